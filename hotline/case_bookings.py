"""Booking an expert for a caller from their case: which experts to offer, and the audited booking.

The booking rules — free slots, field checks, the race for a slot, the confirmation SMS — are
booking's (`book_for_parent`); this module only ties a booking to its case and to the operator.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from booking.appointments import ConfirmedBooking, book_for_parent
from booking.models import Appointment, Expert, Site
from booking.parent_details import ParentDetails
from booking.roster import list_experts, load_expert
from booking.slots import parse_start
from booking.soonest import free_slots_of
from core.accounts import StaffUser
from core.audit import record_audit
from core.db import AsyncSession
from core.privacy import FieldCipher
from core.settings import Settings
from core.vocabulary import CATEGORIES
from hotline.case_views import find_case

__all__ = [
    "CaseBookingForm",
    "ExpertOffer",
    "book_from_case",
    "default_topic",
    "experts_to_offer",
    "filters_by_specialty",
]

# Categories that name no specialty: filtering experts by them would hide everyone.
_NO_SPECIALTY = {"unclassified", "other"}


@dataclass(frozen=True)
class CaseBookingForm:
    """The booking form as the operator sent it (the expert is in the URL); booking checks every field."""

    starts_at: str = ""
    mode: str = ""
    name: str = ""
    phone: str = ""
    topic: str = ""
    notes: str = ""


@dataclass(frozen=True)
class ExpertOffer:
    expert: Expert
    site: Site | None
    slots: list[datetime]  # free starts from booking's own computation, soonest first
    matches_case: bool  # the case's category is one of the expert's specialties


def default_topic(category: str) -> str:
    """The case's category, when it is a topic a parent could have chosen themselves."""
    return category if category in CATEGORIES and category not in _NO_SPECIALTY else "parenting"


def filters_by_specialty(category: str) -> bool:
    return category in CATEGORIES and category not in _NO_SPECIALTY


async def experts_to_offer(
    session: AsyncSession, settings: Settings, *, category: str, everyone: bool, viewer_unit_id: int
) -> list[ExpertOffer]:
    """Active experts of the operator's unit and below, with their free times; only those with the
    case's specialty unless `everyone`."""
    shown = [
        (expert, site)
        for expert, site in await list_experts(session, active_only=True, viewer_unit_id=viewer_unit_id)
        if category in expert.specialty_codes or everyone or not filters_by_specialty(category)
    ]
    # One batch of queries for all of them, not four per expert (booking.soonest).
    slots = await free_slots_of(session, settings, [expert for expert, _ in shown])
    return [
        ExpertOffer(expert, site, slots.get(expert.id or 0, []), category in expert.specialty_codes)
        for expert, site in shown
    ]


async def book_from_case(
    session: AsyncSession,
    cipher: FieldCipher,
    settings: Settings,
    *,
    number: str,
    expert_id: int,
    form: CaseBookingForm,
    actor: StaffUser,
    client_ip: str | None,
    now: datetime | None = None,
) -> ConfirmedBooking:
    """Book a confirmed consultation for the caller of case `number`, and audit it as `case.booking`.

    Appointment, confirmation SMS (outbox) and audit row commit together or not at all. Raises
    NotFound (no such case or expert), BookingInvalid (nothing written) or SlotTaken (nothing written;
    it carries the next free times).
    """
    case = await find_case(session, number, actor)
    await load_expert(session, expert_id, viewer_unit_id=actor.unit_id)  # not found outside the unit
    case_id, case_number = case.id or 0, case.number  # plain values: a rollback expires ORM objects
    starts_at = parse_start(form.starts_at)

    def audit(appointment: Appointment) -> None:
        # Ids and codes only: the parent's name and number stay in the encrypted appointment row.
        record_audit(
            session,
            actor_id=actor.id,
            actor_label=actor.username,
            action="case.booking",
            object_type="referral_case",
            object_id=case_number,
            detail={"appointment": appointment.id, "expert": appointment.expert_id, "mode": appointment.mode},
            client_ip=client_ip,
        )

    try:
        return await book_for_parent(
            session,
            cipher,
            settings,
            expert_id=expert_id,
            starts_at=starts_at,
            mode=form.mode.strip(),
            details=ParentDetails(form.name, form.phone, form.topic.strip(), form.notes),
            # The parent's SMS goes out in the site's language, not in the operator's screen language.
            locale=settings.default_locale,
            booked_by_id=actor.id or 0,
            case_id=case_id,
            now=now,
            before_commit=audit,
        )
    except BaseException:
        await session.rollback()
        raise
