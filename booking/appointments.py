"""Appointments: hold a slot, confirm it with the SMS code, cancel it by link; staff book for a parent.

Each public function is one transaction and commits it. The database, not this code, decides who gets
a slot: the partial unique index `uq_appointment_active_slot` (expert, start) over held and confirmed
rows — and on PostgreSQL the exclusion constraint `ex_appointment_no_overlap` — refuse a second active
appointment, so the loser's INSERT fails and becomes `SlotTaken`. State changes are conditional
UPDATEs (`... WHERE status = 'held'`) so two requests can never both move the same row.

Every SMS is an outbox row added in the same transaction as the change it announces.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_date
from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from app.db import AsyncSession, get_by_outside_id, utcnow
from app.errors import Conflict, FormInvalid, NotFound, UserFacingError
from app.i18n import N_, load_translations
from app.mainland_formats import InvalidFormat, normalize_mainland_mobile
from app.privacy import FieldCipher
from app.settings import Settings
from app.templating import babel_locale
from booking.availability import BusyPeriod, SlotPolicy, WeeklyWindow, free_slots
from booking.models import ACTIVE_STATUSES, Appointment, AvailabilityRule, Expert, Site
from hotline.taxonomy import CATEGORIES
from notifications.outbox import enqueue, phone_index, register_still_wanted, withdraw
from notifications.texts import render_sms

__all__ = [
    "MODES",
    "BookingInvalid",
    "ConfirmedBooking",
    "HeldBooking",
    "HoldExpired",
    "ParentDetails",
    "SlotTaken",
    "WrongCode",
    "appointment_for_manage_token",
    "appointment_for_verify_token",
    "book_for_parent",
    "cancel_by_manage_token",
    "confirm_with_code",
    "hold_slot",
    "iso_utc",
    "load_expert",
    "parse_start",
    "site_of",
    "slots_for_expert",
    "token_hash",
]

MODES: dict[str, str] = {
    "in_person": N_("In person"),
    "phone": N_("By phone"),
    "video": N_("By video"),
}
NAME_MAX = 40
NOTES_MAX = 1000
NEXT_FREE_SHOWN = 5
# No slot is near either end of Python's calendar; a start there (year 1 or 9999 with an offset) cannot be
# moved into UTC or the site's zone without OverflowError, so parse_start refuses it like any bad time.
_FIRST_START = datetime.min.replace(tzinfo=ZoneInfo("UTC")) + timedelta(days=2)
_LAST_START = datetime.max.replace(tzinfo=ZoneInfo("UTC")) - timedelta(days=2)


class BookingInvalid(FormInvalid):
    """Fields are wrong. The first problem becomes the headline, so an API client reads a real reason."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.message = next(iter(errors.values()))


class SlotTaken(Conflict):
    """Someone else holds or booked this time. `next_free` lists times still open (ISO 8601 UTC)."""

    def __init__(self, next_free: list[datetime]) -> None:
        super().__init__(
            N_("Sorry, this time has just been taken by someone else. Please choose another time."),
            extra={"next_free": [iso_utc(t) for t in next_free]},
        )
        self.next_free = next_free


class HoldExpired(UserFacingError):
    status_code = 410

    def __init__(self) -> None:
        super().__init__(
            N_("This time was held for you but the code was not entered in time. Please choose a time again.")
        )


class WrongCode(UserFacingError):
    def __init__(self, attempts_left: int) -> None:
        if attempts_left > 0:
            super().__init__(
                N_("That code is not right. Attempts left: {left}."),
                extra={"attempts_left": attempts_left},
                left=attempts_left,
            )
        else:
            super().__init__(
                N_("Too many wrong codes. The time has been released; please choose a time again."),
                extra={"attempts_left": 0},
            )
        self.attempts_left = attempts_left


@dataclass(frozen=True)
class ParentDetails:
    """What a parent types into the booking form, before validation."""

    name: str
    phone: str
    topic: str = "parenting"
    notes: str = ""


@dataclass(frozen=True)
class HeldBooking:
    appointment: Appointment
    verify_token: str  # only ever in the parent's URL; the database keeps its SHA-256


@dataclass(frozen=True)
class ConfirmedBooking:
    appointment: Appointment
    manage_token: str


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token() -> str:
    return secrets.token_urlsafe(32)  # 256 bits


def _otp_digest(cipher: FieldCipher, verify_hash: str, code: str) -> str:
    # Keyed and bound to this booking: a plain SHA-256 of a 6-digit code is reversed by trying all
    # million codes, so a leaked database would leak live codes too.
    return cipher.blind_index(code, context=f"booking.otp:{verify_hash}")


def iso_utc(value: datetime) -> str:
    """A UTC instant as ISO 8601 with `Z`: how slot times travel in URLs, forms and JSON."""
    return value.isoformat().replace("+00:00", "Z")


def parse_start(raw: str) -> datetime:
    """A slot start sent back by a form or client; it must name its zone (`Z` or an offset)."""
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        value = None
    if value is None or value.tzinfo is None or not _FIRST_START <= value <= _LAST_START:
        raise BookingInvalid({"starts_at": N_("Choose a time from the list of free times.")})
    return value


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("appointment times must be timezone-aware")
    return value.astimezone(ZoneInfo("UTC"))


# ---- reading the roster ------------------------------------------------------------------------------


async def site_of(session: AsyncSession, expert: Expert | None) -> Site | None:
    """Where the expert meets parents in person, if anywhere."""
    return await session.get(Site, expert.site_id) if expert and expert.site_id else None


async def load_expert(session: AsyncSession, expert_id: int) -> Expert:
    expert = await get_by_outside_id(session, Expert, expert_id)
    if expert is None or not expert.active:
        raise NotFound(N_("This expert is not taking bookings."))
    return expert


def policy_for(expert: Expert, settings: Settings) -> SlotPolicy:
    return SlotPolicy(
        slot_minutes=expert.slot_minutes,
        buffer_minutes=expert.buffer_minutes,
        min_notice=timedelta(hours=settings.booking_min_notice_hours),
        horizon=timedelta(days=settings.booking_horizon_days),
        timezone=settings.site_timezone,
    )


async def _busy_periods(session: AsyncSession, expert_id: int, now: datetime) -> list[BusyPeriod]:
    # A hold past its expiry no longer blocks anyone, even before it is marked `expired`.
    rows = await session.exec(
        select(Appointment.starts_at, Appointment.ends_at).where(
            Appointment.expert_id == expert_id,
            col(Appointment.status).in_(ACTIVE_STATUSES),
            or_(col(Appointment.status) == "confirmed", col(Appointment.hold_expires_at) > now),
            Appointment.ends_at > now - timedelta(days=1),
        )
    )
    return [BusyPeriod(start, end) for start, end in rows.all()]


async def slots_for_expert(
    session: AsyncSession, settings: Settings, expert: Expert, *, now: datetime | None = None
) -> list[datetime]:
    now = now or utcnow()
    rules = (
        await session.exec(select(AvailabilityRule).where(AvailabilityRule.expert_id == expert.id))
    ).all()
    windows = [WeeklyWindow(r.weekday, r.start_local, r.end_local) for r in rules]
    busy = await _busy_periods(session, expert.id or 0, now)
    return free_slots(windows, busy, policy_for(expert, settings), now=now)


def _next_free(slots: list[datetime], wanted: datetime) -> list[datetime]:
    later = [s for s in slots if s >= wanted]
    return (later or slots)[:NEXT_FREE_SHOWN]


# ---- validation ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _CleanDetails:
    name: str
    phone_e164: str
    topic: str
    notes: str


def _validate(expert: Expert, mode: str, details: ParentDetails) -> _CleanDetails:
    errors: dict[str, str] = {}
    name = " ".join(details.name.split())
    if not name:
        errors["name"] = N_("Enter your name (a surname or nickname is enough).")
    elif len(name) > NAME_MAX:
        errors["name"] = N_("A name can have at most 40 characters.")
    phone = ""
    try:
        phone = normalize_mainland_mobile(details.phone)
    except InvalidFormat as exc:
        errors["phone"] = str(exc)
    if mode not in expert.mode_codes:
        errors["mode"] = N_("Choose one of the ways this expert offers consultations.")
    topic = details.topic or "parenting"
    if topic not in CATEGORIES:
        errors["topic"] = N_("Choose a topic from the list.")
    notes = details.notes.strip()
    if len(notes) > NOTES_MAX:
        errors["notes"] = N_("Notes can have at most 1000 characters.")
    if errors:
        raise BookingInvalid(errors)
    return _CleanDetails(name=name, phone_e164=phone, topic=topic, notes=notes)


# ---- SMS texts -------------------------------------------------------------------------------------


def _sms_when(starts_at: datetime, settings: Settings, locale: str) -> str:
    local = starts_at.astimezone(ZoneInfo(settings.site_timezone))
    return f"{format_date(local, format='full', locale=babel_locale(locale))} {local:%H:%M}"


async def _sms_place(session: AsyncSession, expert: Expert, mode: str, locale: str) -> str:
    translate = load_translations(locale).gettext
    site = await site_of(session, expert) if mode == "in_person" else None
    if site is not None:
        return f"{site.name} {site.address}".strip()
    return translate(N_("we will contact you on this number")) if mode == "phone" else translate(MODES[mode])


async def _enqueue_confirmation(
    session: AsyncSession,
    cipher: FieldCipher,
    settings: Settings,
    appointment: Appointment,
    phone: str,
    manage_token: str,
    now: datetime,
) -> None:
    """The confirmation SMS and, in the same transaction, the reminder before the consultation.

    Both are rendered now: the manage link carries a token that exists in clear only at confirm time.
    """
    expert = await session.get(Expert, appointment.expert_id)
    assert expert is not None
    context = {
        "expert_name": expert.name,
        "when": _sms_when(appointment.starts_at, settings, appointment.locale),
        "mode_label": load_translations(appointment.locale).gettext(MODES[appointment.mode]),
        "place": await _sms_place(session, expert, appointment.mode, appointment.locale),
        "manage_url": f"{settings.public_base_url}/book/manage/{manage_token}",
    }
    due: list[tuple[str, datetime | None]] = [("booking_confirmed", None)]
    reminder_at = _reminder_at(appointment, settings, now)
    if reminder_at is not None:
        due.append(("reminder", reminder_at))
    for kind, not_before in due:
        await enqueue(
            session,
            cipher,
            kind=kind,
            to_e164=phone,
            body=render_sms(kind, locale=appointment.locale, signature=settings.sms_signature, **context),
            related_type="appointment",
            related_id=appointment.id,
            not_before=not_before,
        )


def _reminder_at(appointment: Appointment, settings: Settings, now: datetime) -> datetime | None:
    """When the reminder SMS is due, or None for no reminder.

    Rule: a booking made less than `reminder_hours_before` ahead of its start gets no reminder — its
    confirmation SMS has just gone out, and a second text minutes later says nothing new. A setting of 0
    turns reminders off.
    """
    if settings.reminder_hours_before <= 0:
        return None
    due = appointment.starts_at - timedelta(hours=settings.reminder_hours_before)
    return due if due > now else None


async def _appointment_still_confirmed(session: AsyncSession, appointment_id: int) -> bool:
    status = (await session.exec(select(Appointment.status).where(Appointment.id == appointment_id))).first()
    return status == "confirmed"


# Every cancel path calls `withdraw` for the reminder; this lets the worker check once more before sending,
# for a path that forgets (notifications cannot ask booking itself: it imports neither booking nor hotline).
register_still_wanted("appointment", ("reminder",), _appointment_still_confirmed)


# ---- the transactions --------------------------------------------------------------------------------


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
) -> tuple[Appointment, _CleanDetails]:
    """Validate, free stale holds on the slot, INSERT. Leaves the transaction open for the caller's SMS."""
    expert = await load_expert(session, expert_id)
    clean = _validate(expert, mode, details)
    starts_at = _as_utc(starts_at)
    slots = await slots_for_expert(session, settings, expert, now=now)
    if starts_at not in slots:
        raise SlotTaken(_next_free(slots, starts_at))
    ends_at = starts_at + timedelta(minutes=expert.slot_minutes)

    # A hold nobody confirmed in time still sits in the unique index; release it so the slot is usable.
    await session.exec(
        update(Appointment)
        .where(
            col(Appointment.expert_id) == expert.id,
            col(Appointment.status) == "held",
            col(Appointment.hold_expires_at) <= now,
            col(Appointment.starts_at) < ends_at,
            col(Appointment.ends_at) > starts_at,
        )
        .values(status="expired", updated_at=now)
        .execution_options(synchronize_session=False)
    )
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
        raise await _slot_taken(session, settings, expert_id, starts_at, now) from None
    return appointment, clean


async def _slot_taken(
    session: AsyncSession, settings: Settings, expert_id: int, starts_at: datetime, now: datetime
) -> SlotTaken:
    # After a rollback every loaded object is expired; read the expert again for the next free times.
    expert = await load_expert(session, expert_id)
    return SlotTaken(_next_free(await slots_for_expert(session, settings, expert, now=now), starts_at))


async def _commit_or_slot_taken(
    session: AsyncSession, settings: Settings, appointment: Appointment, now: datetime
) -> None:
    expert_id, starts_at = appointment.expert_id, appointment.starts_at
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise await _slot_taken(session, settings, expert_id, starts_at, now) from None


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
) -> HeldBooking:
    """Hold a free slot for a parent for `booking_hold_minutes` and text them a one-time code."""
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
        status="held",
    )
    verify_token = _new_token()
    code = f"{secrets.randbelow(10**6):06d}"
    appointment.verify_token_hash = token_hash(verify_token)
    appointment.otp_hash = _otp_digest(cipher, appointment.verify_token_hash, code)
    appointment.hold_expires_at = now + timedelta(minutes=settings.booking_hold_minutes)
    await enqueue(
        session,
        cipher,
        kind="otp",
        to_e164=clean.phone_e164,
        body=render_sms(
            "otp",
            locale=locale,
            signature=settings.sms_signature,
            code=code,
            minutes=settings.booking_hold_minutes,
        ),
        related_type="appointment",
        related_id=appointment.id,
    )
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
        .where(col(Appointment.id) == appointment_id, col(Appointment.status) == "held")
        .values(status="expired", updated_at=now)
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
    if appointment.status == "confirmed":
        raise Conflict(N_("This booking is already confirmed. Use the link in the SMS to see or cancel it."))
    if appointment.status != "held" or (appointment.hold_expires_at or now) <= now:
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
                col(Appointment.status) == "held",
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
    if not hmac.compare_digest(expected, _otp_digest(cipher, appointment.verify_token_hash or "", code)):
        left = settings.otp_max_attempts - attempts_used
        if left <= 0:
            await _release_hold(session, appointment.id or 0, now)
        await session.commit()
        raise WrongCode(attempts_left=left)

    manage_token = _new_token()
    moved = await session.exec(
        update(Appointment)
        .where(
            col(Appointment.id) == appointment.id,
            col(Appointment.status) == "held",
            col(Appointment.hold_expires_at) > now,
        )
        .values(
            status="confirmed",
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
    await _enqueue_confirmation(session, cipher, settings, appointment, phone, manage_token, now)
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
    if appointment.status == "cancelled":
        return appointment
    if appointment.starts_at <= now:
        raise Conflict(
            N_("This consultation has already started or passed; it can no longer be cancelled here.")
        )
    moved = await session.exec(
        update(Appointment)
        .where(col(Appointment.id) == appointment.id, col(Appointment.status) == "confirmed")
        .values(status="cancelled", cancelled_at=now, sequence=col(Appointment.sequence) + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # cancelled by a parallel request: that one sent the SMS
        await session.rollback()
        await session.refresh(appointment)
        return appointment
    await session.refresh(appointment)
    expert = await session.get(Expert, appointment.expert_id)
    assert expert is not None
    phone = cipher.decrypt(appointment.parent_phone_ciphertext, context="appointment.parent_phone")
    body = render_sms(
        "booking_cancelled",
        locale=appointment.locale,
        signature=settings.sms_signature,
        expert_name=expert.name,
        when=_sms_when(appointment.starts_at, settings, appointment.locale),
        book_url=f"{settings.public_base_url}/book",
    )
    await enqueue(
        session,
        cipher,
        kind="booking_cancelled",
        to_e164=phone,
        body=body,
        related_type="appointment",
        related_id=appointment.id,
    )
    # The reminder must not go out for a consultation that no longer takes place.
    await withdraw(session, related_type="appointment", related_id=appointment.id or 0, kind="reminder")
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
        status="confirmed",
    )
    manage_token = _new_token()
    appointment.manage_token_hash = token_hash(manage_token)
    appointment.confirmed_at = now
    appointment.sequence = 1
    appointment.booked_by_id = booked_by_id
    appointment.case_id = case_id
    await _enqueue_confirmation(session, cipher, settings, appointment, clean.phone_e164, manage_token, now)
    if before_commit is not None:
        before_commit(appointment)
    await _commit_or_slot_taken(session, settings, appointment, now)
    return ConfirmedBooking(appointment=appointment, manage_token=manage_token)
