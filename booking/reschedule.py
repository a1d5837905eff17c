"""Moving a confirmed consultation to another free time: by the parent through the manage link, or by
staff (the coordinator's pages, or hotline from a case through `before_commit`).

The appointment row itself moves, in one conditional UPDATE: the new time is secured and the old one
released by the same statement, so there is no moment with two slots taken and none with the parent
holding nothing. The partial unique index on active slots (and on PostgreSQL the exclusion constraint)
checks the row at its new time against every other active row, so a reschedule racing a booking or
another reschedule loses with `SlotTaken` and changes nothing. The iCalendar UID stays and SEQUENCE
rises; `appointment_move` keeps where it was, who moved it and when; the audit log says so too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from booking.appointments import appointment_for_manage_token, release_stale_holds, slot_taken
from booking.booking_rules import ensure_change_allowed
from booking.errors import BookingInvalid, SlotTaken
from booking.messages import enqueue_reschedule
from booking.models import Appointment, AppointmentMove, AppointmentStatus, Expert
from booking.roster import load_expert
from booking.slot_times import as_utc
from booking.slots import next_free, slots_for_expert
from booking.tokens import new_token, token_hash
from core.accounts import StaffUser
from core.audit import record_audit
from core.db import AsyncSession, get_by_outside_id, utcnow
from core.errors import Conflict, NotFound
from core.i18n import N_
from core.privacy import FieldCipher
from core.settings import Settings
from core.units import get_visible

__all__ = [
    "PARENT_ACTOR",
    "Rescheduled",
    "free_times_for_move",
    "movable_appointment",
    "reschedule",
    "reschedule_by_manage_token",
    "staff_visible_appointment",
]

PARENT_ACTOR = "parent"  # actor label of a move made through the manage link


@dataclass(frozen=True)
class Rescheduled:
    appointment: Appointment
    move: AppointmentMove
    manage_token: str  # the parent's link after the move (the same one when the parent moved it)


def movable_appointment(appointment: Appointment, *, now: datetime) -> None:
    """Refuse, with a reason a person reads, to move what cannot move. The parents' cutoff
    (`booking.booking_rules.ensure_change_allowed`) is checked apart: staff may move a consultation
    past it, since they have the family on the phone."""
    if appointment.status != AppointmentStatus.CONFIRMED:
        raise Conflict(N_("Only a confirmed consultation can be moved to another time."))
    if appointment.starts_at <= now:
        raise Conflict(N_("This consultation has already started or passed; it can no longer be moved."))


async def free_times_for_move(
    session: AsyncSession, settings: Settings, appointment: Appointment, *, now: datetime | None = None
) -> list[datetime]:
    """The expert's free starts a consultation can move to (its own time is taken, so not among them)."""
    expert = await load_expert(session, appointment.expert_id)
    return await slots_for_expert(session, settings, expert, now=now or utcnow())


async def staff_visible_appointment(
    session: AsyncSession, viewer: StaffUser, appointment_id: int
) -> Appointment:
    """An appointment whose expert is in the viewer's unit scope; NotFound otherwise (core.units rule)."""
    appointment = await get_by_outside_id(session, Appointment, appointment_id)
    if appointment is None:
        raise NotFound(N_("No such appointment."))
    if await get_visible(session, Expert, appointment.expert_id, viewer.unit_id) is None:
        raise NotFound(N_("No such appointment."))
    return appointment


async def reschedule(
    session: AsyncSession,
    cipher: FieldCipher,
    settings: Settings,
    *,
    appointment_id: int,
    starts_at: datetime,
    moved_by: StaffUser | None,
    manage_token: str | None = None,
    client_ip: str | None = None,
    now: datetime | None = None,
    before_commit: Callable[[Appointment, AppointmentMove], None] | None = None,
) -> Rescheduled:
    """Move a confirmed consultation to `starts_at`, one transaction, committed here.

    `moved_by` is the staff member, or None for the parent (who then passes their `manage_token`, kept
    as it is). A staff move issues a new manage link — the reminder and the SMS must carry one, and only
    its hash is stored — so the parent's old link stops working and the SMS brings the new one.
    Raises NotFound, Conflict (not movable; changed meanwhile), BookingInvalid or SlotTaken; nothing is
    written then.
    """
    now = now or utcnow()
    appointment = await get_by_outside_id(session, Appointment, appointment_id)
    if appointment is None:
        raise NotFound(N_("No such appointment."))
    movable_appointment(appointment, now=now)
    if moved_by is None:
        await ensure_change_allowed(session, settings, appointment, now)  # the parents' cutoff
    expert = await load_expert(session, appointment.expert_id)
    starts_at = as_utc(starts_at)
    if starts_at == appointment.starts_at:
        raise BookingInvalid({"starts_at": N_("Choose a time other than the one already booked.")})
    slots = await slots_for_expert(session, settings, expert, now=now)
    if starts_at not in slots:
        raise SlotTaken(next_free(slots, starts_at))
    ends_at = starts_at + timedelta(minutes=expert.slot_minutes)
    old_starts_at, old_ends_at, sequence = appointment.starts_at, appointment.ends_at, appointment.sequence
    expert_id = expert.id or 0

    await release_stale_holds(session, expert_id, starts_at, ends_at, now)
    token = manage_token if moved_by is None and manage_token else new_token()
    try:
        moved = await session.exec(
            update(Appointment)
            .where(
                col(Appointment.id) == appointment_id,
                col(Appointment.status) == AppointmentStatus.CONFIRMED,
                col(Appointment.starts_at) == old_starts_at,  # not moved by a parallel request
            )
            .values(
                starts_at=starts_at,
                ends_at=ends_at,
                manage_token_hash=token_hash(token),
                sequence=sequence + 1,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
    except IntegrityError:
        # Another booking or move holds the new time: the database refused this row there.
        await session.rollback()
        raise await slot_taken(session, settings, expert_id, starts_at, now) from None
    if moved.rowcount != 1:
        await session.rollback()
        raise Conflict(N_("This consultation was changed meanwhile. Please reload the page and try again."))
    await session.refresh(appointment)
    move = AppointmentMove(
        appointment_id=appointment_id,
        from_starts_at=old_starts_at,
        from_ends_at=old_ends_at,
        to_starts_at=starts_at,
        to_ends_at=ends_at,
        moved_by_id=moved_by.id if moved_by else None,
        moved_at=now,
    )
    session.add(move)
    record_audit(
        session,
        actor_id=moved_by.id if moved_by else None,
        actor_label=moved_by.username if moved_by else PARENT_ACTOR,
        action="appointment.reschedule",
        object_type="appointment",
        object_id=appointment_id,
        detail={"expert": expert_id, "from": old_starts_at.isoformat(), "to": starts_at.isoformat()},
        client_ip=client_ip,
    )
    phone = cipher.decrypt(appointment.parent_phone_ciphertext, context="appointment.parent_phone")
    await enqueue_reschedule(
        session, cipher, settings, appointment, phone, token, old_starts_at=old_starts_at, now=now
    )
    await session.flush()
    if before_commit is not None:
        before_commit(appointment, move)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise await slot_taken(session, settings, expert_id, starts_at, now) from None
    return Rescheduled(appointment=appointment, move=move, manage_token=token)


async def reschedule_by_manage_token(
    session: AsyncSession,
    cipher: FieldCipher,
    settings: Settings,
    *,
    manage_token: str,
    starts_at: datetime,
    client_ip: str | None = None,
    now: datetime | None = None,
) -> Rescheduled:
    """The parent moves their consultation from the manage link; the link stays the same."""
    appointment = await appointment_for_manage_token(session, manage_token)
    return await reschedule(
        session,
        cipher,
        settings,
        appointment_id=appointment.id or 0,
        starts_at=starts_at,
        moved_by=None,
        manage_token=manage_token,
        client_ip=client_ip,
        now=now,
    )
