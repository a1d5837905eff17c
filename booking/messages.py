"""The SMS a booking sends, written to the outbox in the caller's transaction: the one-time code, the
confirmation with its reminder, the cancellation; and the rule that keeps a stale reminder from going out.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_date
from sqlmodel import select

from booking.models import Appointment, AppointmentStatus, Expert
from booking.roster import site_of
from core.db import AsyncSession
from core.i18n import N_, load_translations
from core.privacy import FieldCipher
from core.settings import Settings
from core.templating import babel_locale
from core.vocabulary import MODES
from notifications.models import MessageKind
from notifications.outbox import SendChecks, enqueue, withdraw
from notifications.texts import render_sms

__all__ = [
    "RELATED_TYPE",
    "enqueue_cancellation",
    "enqueue_code",
    "enqueue_confirmation",
    "enqueue_reschedule",
    "register_send_checks",
    "reminder_at",
]

# `related_type` of every outbox row about an appointment.
RELATED_TYPE = "appointment"


def _when(starts_at: datetime, settings: Settings, locale: str) -> str:
    local = starts_at.astimezone(ZoneInfo(settings.site_timezone))
    return f"{format_date(local, format='full', locale=babel_locale(locale))} {local:%H:%M}"


async def _place(session: AsyncSession, expert: Expert, mode: str, locale: str) -> str:
    translate = load_translations(locale).gettext
    site = await site_of(session, expert) if mode == "in_person" else None
    if site is not None:
        return f"{site.name} {site.address}".strip()
    return translate(N_("we will contact you on this number")) if mode == "phone" else translate(MODES[mode])


async def enqueue_code(
    session: AsyncSession,
    cipher: FieldCipher,
    settings: Settings,
    appointment: Appointment,
    phone: str,
    code: str,
) -> None:
    await enqueue(
        session,
        cipher,
        kind=MessageKind.OTP,
        to_e164=phone,
        body=render_sms(
            MessageKind.OTP,
            locale=appointment.locale,
            signature=settings.sms_signature,
            code=code,
            minutes=settings.booking_hold_minutes,
        ),
        related_type=RELATED_TYPE,
        related_id=appointment.id,
    )


async def enqueue_confirmation(
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
        "when": _when(appointment.starts_at, settings, appointment.locale),
        "mode_label": load_translations(appointment.locale).gettext(MODES[appointment.mode]),
        "place": await _place(session, expert, appointment.mode, appointment.locale),
        "manage_url": f"{settings.public_base_url}/book/manage/{manage_token}",
    }
    due: list[tuple[MessageKind, datetime | None]] = [(MessageKind.BOOKING_CONFIRMED, None)]
    reminder_due = reminder_at(appointment, settings, now)
    if reminder_due is not None:
        due.append((MessageKind.REMINDER, reminder_due))
    for kind, not_before in due:
        await enqueue(
            session,
            cipher,
            kind=kind,
            to_e164=phone,
            body=render_sms(kind, locale=appointment.locale, signature=settings.sms_signature, **context),
            related_type=RELATED_TYPE,
            related_id=appointment.id,
            not_before=not_before,
        )


async def enqueue_cancellation(
    session: AsyncSession, cipher: FieldCipher, settings: Settings, appointment: Appointment, phone: str
) -> None:
    """The cancellation SMS; and the reminder, which must not go out for a consultation that no longer
    takes place, is withdrawn in the same transaction."""
    expert = await session.get(Expert, appointment.expert_id)
    assert expert is not None
    body = render_sms(
        MessageKind.BOOKING_CANCELLED,
        locale=appointment.locale,
        signature=settings.sms_signature,
        expert_name=expert.name,
        when=_when(appointment.starts_at, settings, appointment.locale),
        book_url=f"{settings.public_base_url}/book",
    )
    await enqueue(
        session,
        cipher,
        kind=MessageKind.BOOKING_CANCELLED,
        to_e164=phone,
        body=body,
        related_type=RELATED_TYPE,
        related_id=appointment.id,
    )
    await withdraw(
        session, related_type=RELATED_TYPE, related_id=appointment.id or 0, kind=MessageKind.REMINDER
    )


async def enqueue_reschedule(
    session: AsyncSession,
    cipher: FieldCipher,
    settings: Settings,
    appointment: Appointment,
    phone: str,
    manage_token: str,
    *,
    old_starts_at: datetime,
    now: datetime,
) -> None:
    """The SMS that says the consultation moved; the reminder for the old time is withdrawn and one for
    the new time written, in the caller's transaction (both rendered now, as at confirm time)."""
    expert = await session.get(Expert, appointment.expert_id)
    assert expert is not None
    context = {
        "expert_name": expert.name,
        "old_when": _when(old_starts_at, settings, appointment.locale),
        "when": _when(appointment.starts_at, settings, appointment.locale),
        "mode_label": load_translations(appointment.locale).gettext(MODES[appointment.mode]),
        "place": await _place(session, expert, appointment.mode, appointment.locale),
        "manage_url": f"{settings.public_base_url}/book/manage/{manage_token}",
    }
    await withdraw(
        session, related_type=RELATED_TYPE, related_id=appointment.id or 0, kind=MessageKind.REMINDER
    )
    due: list[tuple[MessageKind, datetime | None]] = [(MessageKind.BOOKING_RESCHEDULED, None)]
    reminder_due = reminder_at(appointment, settings, now)
    if reminder_due is not None:
        due.append((MessageKind.REMINDER, reminder_due))
    for kind, not_before in due:
        await enqueue(
            session,
            cipher,
            kind=kind,
            to_e164=phone,
            body=render_sms(kind, locale=appointment.locale, signature=settings.sms_signature, **context),
            related_type=RELATED_TYPE,
            related_id=appointment.id,
            not_before=not_before,
        )


def reminder_at(appointment: Appointment, settings: Settings, now: datetime) -> datetime | None:
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
    return status == AppointmentStatus.CONFIRMED


def register_send_checks(checks: SendChecks) -> None:
    """Booking's hook for the application's wiring. Every cancel path withdraws the reminder; this lets the
    worker check once more before sending, for a path that forgets."""
    checks.add(RELATED_TYPE, (MessageKind.REMINDER,), _appointment_still_confirmed)
