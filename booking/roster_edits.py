"""Coordinators change the roster: edit an expert, deactivate and reactivate them, and find the parents
whose booked consultations need another expert.

A deactivated expert takes no new bookings (`roster.load_expert` refuses them for parents, operators and
the API alike) and leaves the parents' pages, but nothing already booked is dropped or cancelled: those
consultations stay confirmed and are listed for the coordinator to rebook, one by one, with the parent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete
from sqlmodel import col, select

from booking.models import Appointment, AppointmentStatus, AvailabilityRule, Expert, Site
from booking.roster import ExpertDraft, check_links, site_for_draft, site_of
from core.accounts import StaffUser
from core.audit import record_audit
from core.db import AsyncSession, get_by_outside_id, utcnow
from core.errors import NotFound
from core.i18n import N_
from core.privacy import FieldCipher, mask_name, mask_phone
from core.units import get_visible, visible_to

__all__ = [
    "RebookItem",
    "StaffAppointment",
    "appointments_to_rebook",
    "editable_expert",
    "expert_form_values",
    "set_expert_active",
    "staff_appointment",
    "update_expert",
]

_NO_EXPERT = N_("No such expert.")


async def editable_expert(session: AsyncSession, expert_id: int, viewer: StaffUser) -> Expert:
    """An expert of the viewer's unit or below; NotFound otherwise (a sibling unit learns nothing)."""
    expert = await get_visible(session, Expert, expert_id, viewer.unit_id)
    if expert is None:
        raise NotFound(_NO_EXPERT)
    return expert


async def expert_form_values(session: AsyncSession, expert: Expert) -> dict[str, list[str]]:
    """The expert as the roster form's fields, so the edit form opens filled in."""
    rules = (
        await session.exec(
            select(AvailabilityRule)
            .where(AvailabilityRule.expert_id == expert.id)
            .order_by(col(AvailabilityRule.weekday), col(AvailabilityRule.start_local))
        )
    ).all()
    return {
        "name": [expert.name],
        "title": [expert.title],
        "bio": [expert.bio],
        "specialties": expert.specialty_codes,
        "modes": expert.mode_codes,
        "site_id": [str(expert.site_id) if expert.site_id else ""],
        "slot_minutes": [str(expert.slot_minutes)],
        "buffer_minutes": [str(expert.buffer_minutes)],
        "user_id": [str(expert.user_id) if expert.user_id else ""],
        "rule_weekday": [str(r.weekday) for r in rules],
        "rule_start": [r.start_local.strftime("%H:%M") for r in rules],
        "rule_end": [r.end_local.strftime("%H:%M") for r in rules],
    }


async def update_expert(
    session: AsyncSession,
    expert_id: int,
    draft: ExpertDraft,
    *,
    viewer: StaffUser,
    client_ip: str | None,
    now: datetime | None = None,
) -> Expert:
    """Save every field and replace the weekly hours, in one transaction with its audit row. Booked
    consultations keep their times: a new slot length or new hours apply to bookings made from now on."""
    expert = await editable_expert(session, expert_id, viewer)
    await check_links(session, draft, unit_id=viewer.unit_id, expert_id=expert.id)
    site_id = await site_for_draft(session, draft, unit_id=expert.unit_id)
    before = (
        expert.name,
        expert.title,
        expert.bio,
        expert.specialties,
        expert.modes,
        expert.site_id,
        expert.slot_minutes,
        expert.buffer_minutes,
        expert.user_id,
    )
    expert.name, expert.title, expert.bio = draft.name, draft.title, draft.bio
    expert.specialties, expert.modes = ",".join(draft.specialties), ",".join(draft.modes)
    expert.site_id, expert.user_id = site_id, draft.user_id
    expert.slot_minutes, expert.buffer_minutes = draft.slot_minutes, draft.buffer_minutes
    expert.updated_at = now or utcnow()
    after = (
        expert.name,
        expert.title,
        expert.bio,
        expert.specialties,
        expert.modes,
        expert.site_id,
        expert.slot_minutes,
        expert.buffer_minutes,
        expert.user_id,
    )
    names = ("name", "title", "bio", "specialties", "modes", "site", "slot", "buffer", "account")
    changed = [n for n, old, new in zip(names, before, after, strict=True) if old != new]
    await session.exec(delete(AvailabilityRule).where(col(AvailabilityRule.expert_id) == expert.id))
    for weekday, start, end in draft.rules:
        session.add(
            AvailabilityRule(expert_id=expert.id or 0, weekday=weekday, start_local=start, end_local=end)
        )
    record_audit(
        session,
        actor_id=viewer.id,
        actor_label=viewer.username,
        action="roster.expert.update",
        object_type="expert",
        object_id=expert.id or 0,
        detail={"changed": changed, "rules": len(draft.rules)},
        client_ip=client_ip,
    )
    await session.commit()
    return expert


async def set_expert_active(
    session: AsyncSession,
    expert_id: int,
    active: bool,
    *,
    viewer: StaffUser,
    client_ip: str | None,
    now: datetime | None = None,
) -> Expert:
    """Deactivate or reactivate. The UPDATE waits for bookings in flight on the expert (they read the row
    FOR SHARE), so none is added after this commits. Doing it twice changes nothing more."""
    now = now or utcnow()
    expert = await editable_expert(session, expert_id, viewer)
    if expert.active == active:
        return expert
    expert.active = active
    expert.updated_at = now
    await session.flush()
    booked = await _future_confirmed(session, [expert.id or 0], now)
    record_audit(
        session,
        actor_id=viewer.id,
        actor_label=viewer.username,
        action="roster.expert.reactivate" if active else "roster.expert.deactivate",
        object_type="expert",
        object_id=expert.id or 0,
        detail={"future_appointments": len(booked)},
        client_ip=client_ip,
    )
    await session.commit()
    return expert


async def _future_confirmed(session: AsyncSession, expert_ids: list[int], now: datetime) -> list[Appointment]:
    query = (
        select(Appointment)
        .where(
            col(Appointment.expert_id).in_(expert_ids),
            Appointment.status == AppointmentStatus.CONFIRMED,
            Appointment.ends_at > now,
        )
        .order_by(col(Appointment.starts_at))
    )
    return list((await session.exec(query)).all())


@dataclass(frozen=True)
class RebookItem:
    """A consultation still booked with a deactivated expert, as the coordinator's list shows it."""

    appointment_id: int
    expert_id: int
    expert_name: str
    starts_at: datetime
    ends_at: datetime
    mode: str
    parent_phone: str  # masked


async def appointments_to_rebook(
    session: AsyncSession,
    cipher: FieldCipher,
    *,
    viewer_unit_id: int,
    expert_id: int | None = None,
    now: datetime | None = None,
) -> list[RebookItem]:
    """Future confirmed consultations of the deactivated experts in the viewer's scope (or of one of
    them), soonest first."""
    now = now or utcnow()
    query = select(Expert).where(col(Expert.active).is_(False), visible_to(Expert.unit_id, viewer_unit_id))
    if expert_id is not None:
        query = query.where(col(Expert.id) == expert_id)
    experts = {e.id: e for e in (await session.exec(query)).all() if e.id is not None}
    if not experts:
        return []
    return [
        RebookItem(
            appointment_id=a.id or 0,
            expert_id=a.expert_id,
            expert_name=experts[a.expert_id].name,
            starts_at=a.starts_at,
            ends_at=a.ends_at,
            mode=a.mode,
            parent_phone=mask_phone(
                cipher.decrypt(a.parent_phone_ciphertext, context="appointment.parent_phone")
            ),
        )
        for a in await _future_confirmed(session, list(experts), now)
    ]


@dataclass(frozen=True)
class StaffAppointment:
    appointment: Appointment
    expert: Expert
    site: Site | None
    parent_name: str  # masked
    parent_phone: str  # masked


async def staff_appointment(
    session: AsyncSession,
    cipher: FieldCipher,
    viewer: StaffUser,
    appointment_id: int,
    *,
    client_ip: str | None,
) -> StaffAppointment:
    """One consultation for a coordinator (masked parent), if its expert lies in the viewer's scope; the
    reading is audited."""
    appointment = await get_by_outside_id(session, Appointment, appointment_id)
    expert = (
        await get_visible(session, Expert, appointment.expert_id, viewer.unit_id) if appointment else None
    )
    if appointment is None or expert is None:
        raise NotFound(N_("No such appointment."))
    record_audit(
        session,
        actor_id=viewer.id,
        actor_label=viewer.username,
        action="roster.appointment.read",
        object_type="appointment",
        object_id=appointment_id,
        client_ip=client_ip,
    )
    await session.commit()
    return StaffAppointment(
        appointment=appointment,
        expert=expert,
        site=await site_of(session, expert),
        parent_name=mask_name(
            cipher.decrypt(appointment.parent_name_ciphertext, context="appointment.parent_name")
        ),
        parent_phone=mask_phone(
            cipher.decrypt(appointment.parent_phone_ciphertext, context="appointment.parent_phone")
        ),
    )
