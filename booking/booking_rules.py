"""Booking rules: per site, overridden per expert, defaulting to settings; and the change cutoff.

Rules (each nullable in `booking_rules`; an expert's row wins over their site's, the site's over the
defaults):
- minimum notice: no slot starts sooner than this after now (default `BOOKING_MIN_NOTICE_HOURS`);
- booking window: no slot starts later than this many days after now (default `BOOKING_HORIZON_DAYS`);
- release schedule: the slots of local day D open at HH:MM on day D - N (default: none, a rolling
  window);
- daily cap: at most this many held or confirmed appointments per expert and local day (default none);
- change cutoff: a parent may cancel or reschedule until N hours before the start, and/or until HH:MM of
  the working day before (both set: the earlier moment wins; default: until the start);
- follows holidays (sites only): statutory holidays are off and make-up days worked (default on).
The buffer between consultations is the expert's own `buffer_minutes` (set on the roster form).

Slots (booking.slots) apply the first four for parents, operators and the API alike, because every
booking path goes through booking.appointments; `change_allowed`/`ensure_change_allowed` are the one
place the cutoff is decided — cancelling by manage link uses it, and so should every other parent-side
change (rescheduling).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import or_
from sqlmodel import col, select

from booking.availability_models import BookingRules
from booking.models import Appointment, Expert
from core.china_calendar import official_working_day
from core.db import AsyncSession
from core.errors import Conflict
from core.i18n import N_
from core.settings import Settings

__all__ = [
    "EffectiveRules",
    "change_allowed",
    "change_deadline",
    "ensure_change_allowed",
    "load_rules",
    "resolve",
    "rules_for",
]


@dataclass(frozen=True)
class EffectiveRules:
    min_notice: timedelta
    window_days: int
    release_days_before: int | None = None
    release_at: time = time(0)
    daily_cap: int | None = None
    cutoff_hours: int | None = None
    cutoff_day_before_at: time | None = None
    follows_holidays: bool = True


_FIELDS = (
    "min_notice_minutes",
    "window_days",
    "release_days_before",
    "release_at",
    "daily_cap",
    "cutoff_hours",
    "cutoff_day_before_at",
    "follows_holidays",
)


def resolve(
    settings: Settings, site_rules: BookingRules | None, expert_rules: BookingRules | None
) -> EffectiveRules:
    """The rules in force for one expert: their own row over their site's over the settings."""
    chosen: dict[str, object] = {}
    for name in _FIELDS:
        for row in (expert_rules, site_rules):
            value = getattr(row, name) if row is not None else None
            if value is not None:
                chosen[name] = value
                break
    notice = chosen.get("min_notice_minutes")
    return EffectiveRules(
        min_notice=timedelta(minutes=notice)
        if isinstance(notice, int)
        else timedelta(hours=settings.booking_min_notice_hours),
        window_days=_int(chosen.get("window_days")) or settings.booking_horizon_days,
        release_days_before=_int(chosen.get("release_days_before")),
        release_at=_time(chosen.get("release_at")) or time(0),
        daily_cap=_int(chosen.get("daily_cap")),
        cutoff_hours=_int(chosen.get("cutoff_hours")),
        cutoff_day_before_at=_time(chosen.get("cutoff_day_before_at")),
        follows_holidays=chosen.get("follows_holidays", True) is not False,
    )


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _time(value: object) -> time | None:
    return value if isinstance(value, time) else None


async def load_rules(
    session: AsyncSession, experts: Iterable[Expert]
) -> tuple[dict[int, BookingRules], dict[int, BookingRules]]:
    """The rule rows of these experts and their sites, in one query: (by site id, by expert id)."""
    experts = list(experts)
    expert_ids = [e.id for e in experts if e.id is not None]
    site_ids = sorted({e.site_id for e in experts if e.site_id is not None})
    query = select(BookingRules)
    if len(expert_ids) <= 50:  # for a whole roster the small table is read whole: no long IN list
        query = query.where(
            or_(col(BookingRules.site_id).in_(site_ids), col(BookingRules.expert_id).in_(expert_ids))
        )
    rows = (await session.exec(query)).all()
    by_site = {r.site_id: r for r in rows if r.site_id is not None}
    by_expert = {r.expert_id: r for r in rows if r.expert_id is not None}
    return by_site, by_expert


async def rules_for(session: AsyncSession, settings: Settings, expert: Expert) -> EffectiveRules:
    by_site, by_expert = await load_rules(session, [expert])
    site_row = by_site.get(expert.site_id) if expert.site_id is not None else None
    return resolve(settings, site_row, by_expert.get(expert.id or 0))


def _working_day_before(day: datetime, follows_holidays: bool) -> datetime:
    current = day - timedelta(days=1)
    for _ in range(60):  # the longest run of days off (Spring Festival) is far shorter
        official = official_working_day(current.date()) if follows_holidays else None
        if official if official is not None else current.weekday() < 5:
            return current
        current -= timedelta(days=1)
    return current


def change_deadline(rules: EffectiveRules, starts_at: datetime, timezone: str) -> datetime:
    """The last moment (UTC) a parent may cancel or reschedule an appointment starting at `starts_at`."""
    deadline = starts_at.astimezone(UTC)
    if rules.cutoff_hours is not None:
        deadline = min(deadline, starts_at - timedelta(hours=rules.cutoff_hours))
    if rules.cutoff_day_before_at is not None:
        zone = ZoneInfo(timezone)
        local_start = starts_at.astimezone(zone)
        before = _working_day_before(local_start, rules.follows_holidays)
        by = datetime.combine(before.date(), rules.cutoff_day_before_at, tzinfo=zone).astimezone(UTC)
        deadline = min(deadline, by)
    return deadline


def change_allowed(rules: EffectiveRules, starts_at: datetime, now: datetime, timezone: str) -> bool:
    """Whether a parent may still cancel or reschedule: now is before the deadline (and the start)."""
    return now < change_deadline(rules, starts_at, timezone)


async def ensure_change_allowed(
    session: AsyncSession, settings: Settings, appointment: Appointment, now: datetime
) -> None:
    """Raise Conflict, naming the deadline in the site's local time, once the cutoff has passed."""
    expert = await session.get(Expert, appointment.expert_id)
    if expert is None:
        return
    rules = await rules_for(session, settings, expert)
    deadline = change_deadline(rules, appointment.starts_at, settings.site_timezone)
    if now >= deadline and deadline < appointment.starts_at:
        local = deadline.astimezone(ZoneInfo(settings.site_timezone)).strftime("%Y-%m-%d %H:%M")
        raise Conflict(
            N_(
                "Changes to this consultation could be made online until {deadline}. "
                "Please call the centre if you cannot come."
            ),
            deadline=local,
        )
