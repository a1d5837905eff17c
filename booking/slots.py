"""Slot lookup: an expert's free start times from their weekly hours, exceptions, holidays, the booking
rules and what is already held or booked; one start checked for a hold; and reading a start time a form
or client sends back."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, or_
from sqlmodel import col, select

from booking.availability import BusyPeriod, Refusal, SlotPolicy, free_slots, refusal
from booking.availability_models import AvailabilityException, ExceptionKind
from booking.booking_rules import EffectiveRules, resolve, rules_for
from booking.day_plan import DateException, DayPlan
from booking.errors import BookingInvalid
from booking.models import ACTIVE_STATUSES, Appointment, AppointmentStatus, AvailabilityRule, Expert
from core.db import AsyncSession, utcnow
from core.i18n import N_
from core.settings import Settings

__all__ = [
    "busy_filter",
    "exception_of",
    "next_free",
    "parse_start",
    "policy_for",
    "refusal_for",
    "slots_for_expert",
]

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


def policy_for(expert: Expert, settings: Settings, rules: EffectiveRules | None = None) -> SlotPolicy:
    rules = rules or resolve(settings, None, None)
    return SlotPolicy(
        slot_minutes=expert.slot_minutes,
        buffer_minutes=expert.buffer_minutes,
        min_notice=rules.min_notice,
        horizon=timedelta(days=rules.window_days),
        timezone=settings.site_timezone,
        daily_cap=rules.daily_cap,
        release_days_before=rules.release_days_before,
        release_at=rules.release_at,
    )


def busy_filter(now: datetime) -> list[ColumnElement[bool]]:
    # A hold past its expiry no longer blocks anyone, even before it is marked `expired`.
    return [
        col(Appointment.status).in_(ACTIVE_STATUSES),
        or_(col(Appointment.status) == AppointmentStatus.CONFIRMED, col(Appointment.hold_expires_at) > now),
    ]


async def _busy_periods(
    session: AsyncSession, expert_id: int, now: datetime, *, around: datetime | None = None
) -> list[BusyPeriod]:
    """What occupies the expert's time from a day ago on — or, with `around`, within two days of it
    (the day a hold asks for, its neighbours for buffers, and that local day whole for the daily cap)."""
    window = [Appointment.ends_at > now - timedelta(days=1)]
    if around is not None:
        window = [
            Appointment.ends_at > around - timedelta(days=2),
            Appointment.starts_at < around + timedelta(days=2),
        ]
    rows = await session.exec(
        select(Appointment.starts_at, Appointment.ends_at).where(
            Appointment.expert_id == expert_id, *busy_filter(now), *window
        )
    )
    return [BusyPeriod(start, end) for start, end in rows.all()]


def exception_of(row: AvailabilityException) -> DateException:
    return DateException(
        extra=row.kind == ExceptionKind.EXTRA,
        first_day=row.first_day,
        last_day=row.last_day,
        start=row.start_local,
        end=row.end_local,
    )


async def _plan(
    session: AsyncSession, expert: Expert, rules: EffectiveRules, *, on: date | None = None
) -> DayPlan:
    """The expert's weekly hours and exceptions (only those touching `on`, when given)."""
    rows = (await session.exec(select(AvailabilityRule).where(AvailabilityRule.expert_id == expert.id))).all()
    weekly = [(r.weekday, r.start_local, r.end_local) for r in rows]
    query = select(AvailabilityException).where(AvailabilityException.expert_id == expert.id)
    if on is not None:
        query = query.where(AvailabilityException.first_day <= on, AvailabilityException.last_day >= on)
    exceptions = (await session.exec(query)).all()
    return DayPlan.of(weekly, map(exception_of, exceptions), follows_holidays=rules.follows_holidays)


async def slots_for_expert(
    session: AsyncSession, settings: Settings, expert: Expert, *, now: datetime | None = None
) -> list[datetime]:
    now = now or utcnow()
    rules = await rules_for(session, settings, expert)
    plan = await _plan(session, expert, rules)
    busy = await _busy_periods(session, expert.id or 0, now)
    return free_slots(plan, busy, policy_for(expert, settings, rules), now=now)


async def refusal_for(
    session: AsyncSession, settings: Settings, expert: Expert, start: datetime, *, now: datetime
) -> Refusal | None:
    """Why `start` cannot be booked now, or None: the same answer as `start in slots_for_expert(...)`
    but reading and computing only the start's own day."""
    rules = await rules_for(session, settings, expert)
    policy = policy_for(expert, settings, rules)
    plan = await _plan(session, expert, rules, on=start.astimezone(ZoneInfo(policy.timezone)).date())
    busy = await _busy_periods(session, expert.id or 0, now, around=start)
    return refusal(start, plan, busy, policy, now=now)


def next_free(slots: list[datetime], wanted: datetime) -> list[datetime]:
    """The first few free times from `wanted` on (or the first few at all), to offer instead."""
    later = [s for s in slots if s >= wanted]
    return (later or slots)[:NEXT_FREE_SHOWN]
