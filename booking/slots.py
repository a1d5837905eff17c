"""Slot lookup: an expert's free start times from their weekly hours, the booking rules and what is
already held or booked; and reading a start time a form or client sends back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import or_
from sqlmodel import col, select

from booking.availability import BusyPeriod, SlotPolicy, WeeklyWindow, free_slots
from booking.errors import BookingInvalid
from booking.models import ACTIVE_STATUSES, Appointment, AppointmentStatus, AvailabilityRule, Expert
from core.db import AsyncSession, utcnow
from core.i18n import N_
from core.settings import Settings

__all__ = ["next_free", "parse_start", "policy_for", "slots_for_expert"]

NEXT_FREE_SHOWN = 5
# No slot is near either end of Python's calendar; a start there (year 1 or 9999 with an offset) cannot be
# moved into UTC or the site's zone without OverflowError, so parse_start refuses it like any bad time.
_FIRST_START = datetime.min.replace(tzinfo=UTC) + timedelta(days=2)
_LAST_START = datetime.max.replace(tzinfo=UTC) - timedelta(days=2)


def parse_start(raw: str) -> datetime:
    """A slot start sent back by a form or client; it must name its zone (`Z` or an offset)."""
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        value = None
    if value is None or value.tzinfo is None or not _FIRST_START <= value <= _LAST_START:
        raise BookingInvalid({"starts_at": N_("Choose a time from the list of free times.")})
    return value


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
            or_(
                col(Appointment.status) == AppointmentStatus.CONFIRMED,
                col(Appointment.hold_expires_at) > now,
            ),
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


def next_free(slots: list[datetime], wanted: datetime) -> list[datetime]:
    """The first few free times from `wanted` on (or the first few at all), to offer instead."""
    later = [s for s in slots if s >= wanted]
    return (later or slots)[:NEXT_FREE_SHOWN]
