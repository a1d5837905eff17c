"""Whether a phone number may hold a slot online (and so be sent a one-time code), checked before anything
is held or queued. Staff booking for a parent never passes through here.

In order: a number that opted out of SMS cannot receive the code (Twilio refuses it, error 21610); a
number suspended for no-shows cannot book online; then the limits against abuse, counted in the database
(booking.rate_counts) so they hold across app processes: code SMS per number and per client address in
the current hour, and active bookings (future confirmed ones and unexpired holds) per number.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_
from sqlmodel import col, select

from booking.errors import BookingSuspended, OptedOutOfSms, TooManyActive, TooManyCodes
from booking.models import Appointment, AppointmentStatus
from booking.no_shows import suspension_for
from booking.rate_counts import EPOCH, bump, forget_before, window_start
from core.db import AsyncSession
from core.privacy import FieldCipher
from core.settings import Settings
from notifications.opt_out import is_opted_out

__all__ = ["CODE_WINDOW", "active_bookings", "admit_online"]

CODE_WINDOW = timedelta(hours=1)


def _local(settings: Settings, at: datetime, pattern: str) -> str:
    return at.astimezone(ZoneInfo(settings.site_timezone)).strftime(pattern)


async def active_bookings(session: AsyncSession, phone_index: str, now: datetime) -> int:
    """Future confirmed bookings and unexpired holds of one number."""
    found = await session.exec(
        select(func.count())
        .select_from(Appointment)
        .where(
            col(Appointment.parent_phone_index) == phone_index,
            or_(
                and_(
                    col(Appointment.status) == AppointmentStatus.CONFIRMED,
                    col(Appointment.starts_at) > now,
                ),
                and_(
                    col(Appointment.status) == AppointmentStatus.HELD,
                    col(Appointment.hold_expires_at) > now,
                ),
            ),
        )
    )
    return found.one()


async def _count_code(session: AsyncSession, key: str, window: datetime) -> int:
    count = await bump(session, key, window)
    if count == 1:  # the first in a new window: the key's old windows are of no more use
        await forget_before(session, key, window - CODE_WINDOW)
    return count


async def admit_online(
    session: AsyncSession,
    cipher: FieldCipher,
    settings: Settings,
    *,
    phone_index: str,
    client_address: str | None,
    now: datetime,
) -> None:
    """Raise the reason a number may not hold a slot now; otherwise count its code SMS and return.

    Leaves the counters written in the caller's transaction (and their rows locked until it ends); on a
    refusal after counting, rolls back first so the refused attempt is not counted.
    """
    hotline = settings.booking_hotline_number
    if await is_opted_out(session, phone_index):
        raise OptedOutOfSms(hotline=hotline)
    suspended = await suspension_for(session, settings, phone_index, now=now)
    if suspended is not None and suspended.suspended_until is not None:
        raise BookingSuspended(
            until=_local(settings, suspended.suspended_until, "%Y-%m-%d"),
            limit=settings.no_show_limit,
            months=settings.no_show_window_months,
            hotline=hotline,
        )

    # Rows keyed by number first, then by address: one order for every request, so no two wait on
    # each other in a cycle. The number's lock row comes first and serialises its holds, so the active
    # count below sees every hold committed before it.
    await bump(session, f"hold-lock:{phone_index}", EPOCH)
    window = window_start(now, CODE_WINDOW)
    refused = False
    if await _count_code(session, f"otp-phone:{phone_index}", window) > settings.otp_sms_per_phone_hour:
        refused = True
    elif client_address:
        address_key = f"otp-address:{cipher.blind_index(client_address, context='client_address')}"
        refused = await _count_code(session, address_key, window) > settings.otp_sms_per_address_hour
    if refused:
        await session.rollback()
        raise TooManyCodes(after=_local(settings, window + CODE_WINDOW, "%H:%M"), hotline=hotline)
    if await active_bookings(session, phone_index, now) >= settings.booking_max_active_per_phone:
        await session.rollback()
        raise TooManyActive(limit=settings.booking_max_active_per_phone, hotline=hotline)
