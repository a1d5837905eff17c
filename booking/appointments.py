"""Appointments: hold a slot, confirm it with the SMS code, cancel it by link; staff book for a parent.

Each public function is one transaction and commits it. The database, not this code, decides who gets
a slot: the partial unique index `uq_appointment_active_slot` (expert, start) over held and confirmed
rows — and on PostgreSQL the exclusion constraint `ex_appointment_no_overlap` — refuse a second active
appointment, so the loser's INSERT fails and becomes `SlotTaken`. State changes are conditional
UPDATEs (`... WHERE status = 'held'`) so two requests can never both move the same row.

Every SMS is an outbox row added in the same transaction as the change it announces.
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from booking.availability import Refusal
from booking.booking_rules import ensure_change_allowed
from booking.errors import HoldExpired, SlotTaken, SlotUnavailable, WrongCode
from booking.messages import enqueue_cancellation, enqueue_code, enqueue_confirmation
from booking.models import APPOINTMENT_TRANSITIONS, Appointment, AppointmentStatus
from booking.online_admission import admit_online
from booking.parent_details import CleanDetails, ParentDetails, validate_details
from booking.roster import load_expert
from booking.slot_times import as_utc
from booking.slots import next_free, refusal_for, slots_for_expert
from booking.tokens import new_code, new_token, otp_digest, token_hash
from core.db import AsyncSession, utcnow
from core.errors import Conflict, FormInvalid, NotFound
from core.i18n import N_
from core.privacy import FieldCipher, phone_index
from core.settings import Settings

__all__ = [
    "ConfirmedBooking",
    "HeldBooking",
    "appointment_for_manage_token",
    "appointment_for_verify_token",
    "book_for_parent",
    "cancel_by_manage_token",
    "confirm_with_code",
    "hold_slot",
    "release_stale_holds",
    "slot_taken",
]

_A = AppointmentStatus


@dataclass(frozen=True)
class HeldBooking:
    appointment: Appointment
    verify_token: str  # only ever in the parent's URL; the database keeps its SHA-256


@dataclass(frozen=True)
class ConfirmedBooking:
    appointment: Appointment
    manage_token: str


# ---- the transactions --------------------------------------------------------------------------------


async def release_stale_holds(
    session: AsyncSession, expert_id: int, starts_at: datetime, ends_at: datetime, now: datetime
) -> None:
    """A hold nobody confirmed in time still sits in the unique index; mark the ones overlapping
    [starts_at, ends_at) expired so the slot is usable (booking and rescheduling both take slots)."""
    await session.exec(
        update(Appointment)
        .where(
            col(Appointment.expert_id) == expert_id,
            col(Appointment.status).in_(APPOINTMENT_TRANSITIONS.sources_of(_A.EXPIRED)),
            col(Appointment.hold_expires_at) <= now,
            col(Appointment.starts_at) < ends_at,
            col(Appointment.ends_at) > starts_at,
        )
        .values(status=_A.EXPIRED, updated_at=now)
        .execution_options(synchronize_session=False)
    )


async def _insert_active(
    session: AsyncSession,
    cipher: FieldCipher,
    settings: Settings,
    *,
    expert_id: int,
    starts_at: datetime,
    mode: str,
    details: ParentDetails,
    locale: str,
    now: datetime,
    status: str,
    admit: Callable[[str], Awaitable[None]] | None = None,
) -> tuple[Appointment, CleanDetails]:
    """Validate, free stale holds on the slot, INSERT. Leaves the transaction open for the caller's SMS.

    `admit` gets the phone's blind index before anything is written and raises to refuse the number."""
    expert = await load_expert(session, expert_id, for_booking=True)  # refuses a deactivated expert
    clean = validate_details(expert, mode, details)
    if admit is not None:
        await admit(phone_index(cipher, clean.phone_e164))
    starts_at = as_utc(starts_at)
    # Only the asked-for start is checked (its own day of hours and bookings), not the whole horizon;
    # the unique index below still decides between two parents asking at once.
    refused = await refusal_for(session, settings, expert, starts_at, now=now)
    if refused is not None:
        others = next_free(await slots_for_expert(session, settings, expert, now=now), starts_at)
        raise SlotTaken(others) if refused is Refusal.TAKEN else SlotUnavailable(refused, others)
    ends_at = starts_at + timedelta(minutes=expert.slot_minutes)

    await release_stale_holds(session, expert.id or 0, starts_at, ends_at, now)
    appointment = Appointment(
        expert_id=expert.id or 0,
        starts_at=starts_at,
        ends_at=ends_at,
        mode=mode,
        status=status,
        parent_name_ciphertext=cipher.encrypt(clean.name, context="appointment.parent_name"),
        parent_phone_ciphertext=cipher.encrypt(clean.phone_e164, context="appointment.parent_phone"),
        parent_phone_index=phone_index(cipher, clean.phone_e164),
        topic=clean.topic,
        locale=locale,
        notes_ciphertext=cipher.encrypt_optional(clean.notes, context="appointment.notes"),
        ical_uid=f"{uuid.uuid4()}@family-hotline",
        created_at=now,
        updated_at=now,
    )
    session.add(appointment)
    try:
        await session.flush()
    except IntegrityError:
        # Another parent's INSERT won the unique index (or the PostgreSQL exclusion constraint).
        await session.rollback()
        raise await slot_taken(session, settings, expert_id, starts_at, now) from None
    return appointment, clean


async def slot_taken(
    session: AsyncSession, settings: Settings, expert_id: int, starts_at: datetime, now: datetime
) -> SlotTaken:
    # After a rollback every loaded object is expired; read the expert again for the next free times.
    expert = await load_expert(session, expert_id)
    return SlotTaken(next_free(await slots_for_expert(session, settings, expert, now=now), starts_at))


async def _commit_or_slot_taken(
    session: AsyncSession, settings: Settings, appointment: Appointment, now: datetime
) -> None:
    expert_id, starts_at = appointment.expert_id, appointment.starts_at
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise await slot_taken(session, settings, expert_id, starts_at, now) from None


async def hold_slot(
    session: AsyncSession,
    cipher: FieldCipher,
    settings: Settings,
    *,
    expert_id: int,
    starts_at: datetime,
    mode: str,
    details: ParentDetails,
    locale: str,
    now: datetime | None = None,
    client_address: str | None = None,
) -> HeldBooking:
    """Hold a free slot for a parent for `booking_hold_minutes` and text them a one-time code.

    The number must pass `admit_online` first (opted out of SMS, suspended for no-shows, over a limit):
    a refused number holds nothing and is sent nothing. `client_address` is the requester's IP address.
    """
    now = now or utcnow()
    checked_at = now

    async def admit(index: str) -> None:
        await admit_online(
            session, cipher, settings, phone_index=index, client_address=client_address, now=checked_at
        )

    appointment, clean = await _insert_active(
        session,
        cipher,
        settings,
        expert_id=expert_id,
        starts_at=starts_at,
        mode=mode,
        details=details,
        locale=locale,
        now=now,
        status=_A.HELD,
        admit=admit,
    )
    verify_token = new_token()
    code = new_code()
    appointment.verify_token_hash = token_hash(verify_token)
    appointment.otp_hash = otp_digest(cipher, appointment.verify_token_hash, code)
    appointment.hold_expires_at = now + timedelta(minutes=settings.booking_hold_minutes)
    await enqueue_code(session, cipher, settings, appointment, clean.phone_e164, code)
    await _commit_or_slot_taken(session, settings, appointment, now)
    return HeldBooking(appointment=appointment, verify_token=verify_token)


async def appointment_for_verify_token(session: AsyncSession, verify_token: str) -> Appointment:
    found = (
        await session.exec(
            select(Appointment).where(Appointment.verify_token_hash == token_hash(verify_token))
        )
    ).first()
    if found is None:
        raise NotFound(N_("This booking link is not valid. Please choose a time again."))
    return found


async def appointment_for_manage_token(session: AsyncSession, manage_token: str) -> Appointment:
    found = (
        await session.exec(
            select(Appointment).where(Appointment.manage_token_hash == token_hash(manage_token))
        )
    ).first()
    if found is None:
        raise NotFound(N_("This booking link is not valid. Please choose a time again."))
    return found


async def _release_hold(session: AsyncSession, appointment_id: int, now: datetime) -> None:
    await session.exec(
        update(Appointment)
        .where(
            col(Appointment.id) == appointment_id,
            col(Appointment.status).in_(APPOINTMENT_TRANSITIONS.sources_of(_A.EXPIRED)),
        )
        .values(status=_A.EXPIRED, updated_at=now)
        .execution_options(synchronize_session=False)
    )


async def confirm_with_code(
    session: AsyncSession,
    cipher: FieldCipher,
    settings: Settings,
    *,
    verify_token: str,
    code: str,
    now: datetime | None = None,
) -> ConfirmedBooking:
    """Check the SMS code; on success the hold becomes a confirmed booking with a manage link."""
    now = now or utcnow()
    appointment = await appointment_for_verify_token(session, verify_token)
    if appointment.status == _A.CONFIRMED:
        raise Conflict(N_("This booking is already confirmed. Use the link in the SMS to see or cancel it."))
    if appointment.status != _A.HELD or (appointment.hold_expires_at or now) <= now:
        await _release_hold(session, appointment.id or 0, now)
        await session.commit()
        raise HoldExpired()
    code = "".join(code.split())
    if len(code) != 6 or not code.isdigit():
        raise FormInvalid({"code": N_("Enter the 6-digit code from the SMS.")})

    # Spend one attempt before comparing, atomically: parallel guesses cannot exceed the limit.
    spent = (
        await session.exec(
            update(Appointment)
            .where(
                col(Appointment.id) == appointment.id,
                col(Appointment.status) == _A.HELD,
                col(Appointment.otp_attempts) < settings.otp_max_attempts,
            )
            .values(otp_attempts=col(Appointment.otp_attempts) + 1, updated_at=now)
            .returning(col(Appointment.otp_attempts))
            .execution_options(synchronize_session=False)
        )
    ).first()
    if spent is None:
        await _release_hold(session, appointment.id or 0, now)
        await session.commit()
        raise WrongCode(attempts_left=0)
    attempts_used = spent[0]

    expected = appointment.otp_hash or ""
    if not hmac.compare_digest(expected, otp_digest(cipher, appointment.verify_token_hash or "", code)):
        left = settings.otp_max_attempts - attempts_used
        if left <= 0:
            await _release_hold(session, appointment.id or 0, now)
        await session.commit()
        raise WrongCode(attempts_left=left)

    manage_token = new_token()
    moved = await session.exec(
        update(Appointment)
        .where(
            col(Appointment.id) == appointment.id,
            col(Appointment.status).in_(APPOINTMENT_TRANSITIONS.sources_of(_A.CONFIRMED)),
            col(Appointment.hold_expires_at) > now,
        )
        .values(
            status=_A.CONFIRMED,
            confirmed_at=now,
            hold_expires_at=None,
            otp_hash=None,
            manage_token_hash=token_hash(manage_token),
            sequence=col(Appointment.sequence) + 1,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        await session.rollback()
        raise HoldExpired()
    await session.refresh(appointment)
    phone = cipher.decrypt(appointment.parent_phone_ciphertext, context="appointment.parent_phone")
    await enqueue_confirmation(session, cipher, settings, appointment, phone, manage_token, now)
    await session.commit()
    return ConfirmedBooking(appointment=appointment, manage_token=manage_token)


async def cancel_by_manage_token(
    session: AsyncSession,
    cipher: FieldCipher,
    settings: Settings,
    *,
    manage_token: str,
    now: datetime | None = None,
) -> Appointment:
    """The parent cancels. Cancelling twice is harmless: the second call changes nothing and sends nothing."""
    now = now or utcnow()
    appointment = await appointment_for_manage_token(session, manage_token)
    if appointment.status == _A.CANCELLED:
        return appointment
    if appointment.starts_at <= now:
        raise Conflict(
            N_("This consultation has already started or passed; it can no longer be cancelled here.")
        )
    await ensure_change_allowed(session, settings, appointment, now)
    moved = await session.exec(
        update(Appointment)
        .where(
            col(Appointment.id) == appointment.id,
            col(Appointment.status).in_(APPOINTMENT_TRANSITIONS.sources_of(_A.CANCELLED)),
        )
        .values(status=_A.CANCELLED, cancelled_at=now, sequence=col(Appointment.sequence) + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # cancelled by a parallel request: that one sent the SMS
        await session.rollback()
        await session.refresh(appointment)
        return appointment
    await session.refresh(appointment)
    phone = cipher.decrypt(appointment.parent_phone_ciphertext, context="appointment.parent_phone")
    await enqueue_cancellation(session, cipher, settings, appointment, phone)
    await session.commit()
    return appointment


async def book_for_parent(
    session: AsyncSession,
    cipher: FieldCipher,
    settings: Settings,
    *,
    expert_id: int,
    starts_at: datetime,
    mode: str,
    details: ParentDetails,
    locale: str,
    booked_by_id: int,
    case_id: int | None = None,
    now: datetime | None = None,
    before_commit: Callable[[Appointment], None] | None = None,
) -> ConfirmedBooking:
    """Staff book on a parent's behalf (e.g. from a hotline case) while on the phone with them.

    No SMS code: the operator heard the parent agree. The booking is confirmed at once, records who
    booked it and for which case, and the parent gets the usual confirmation SMS with a manage link.
    `before_commit` gets the flushed appointment (its id known) just before the one commit, so rows the
    caller adds there — the hotline's audit row — commit with the booking and its SMS, or not at all.
    """
    now = now or utcnow()
    appointment, clean = await _insert_active(
        session,
        cipher,
        settings,
        expert_id=expert_id,
        starts_at=starts_at,
        mode=mode,
        details=details,
        locale=locale,
        now=now,
        status=_A.CONFIRMED,
    )
    manage_token = new_token()
    appointment.manage_token_hash = token_hash(manage_token)
    appointment.confirmed_at = now
    appointment.sequence = 1
    appointment.booked_by_id = booked_by_id
    appointment.case_id = case_id
    await enqueue_confirmation(session, cipher, settings, appointment, clean.phone_e164, manage_token, now)
    if before_commit is not None:
        before_commit(appointment)
    await _commit_or_slot_taken(session, settings, appointment, now)
    return ConfirmedBooking(appointment=appointment, manage_token=manage_token)
