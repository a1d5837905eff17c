"""Free slots of an expert, computed (never stored) from opening hours, busy periods and booking rules.

Pure: no database, no clock. Callers pass `now`, the hours (a booking.day_plan.DayPlan, or plain weekly
windows) and the appointments that occupy time, so the same inputs always give the same slots — which is
what lets `hold_slot` insist that a requested start is one of them (`refusal` checks one start against
the same rules without computing the others), and what lets hypothesis test it.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from itertools import groupby
from zoneinfo import ZoneInfo

from booking.day_plan import DayPlan

__all__ = [
    "BusyPeriod",
    "Refusal",
    "SlotPolicy",
    "WeeklyWindow",
    "free_slots",
    "refusal",
    "slots_by_local_day",
    "window_bounds_utc",
]


@dataclass(frozen=True)
class WeeklyWindow:
    """A weekly opening in local wall-clock time; weekday 0 is Monday."""

    weekday: int
    start: time
    end: time


@dataclass(frozen=True)
class BusyPeriod:
    """Time already taken (a held or confirmed appointment), in UTC."""

    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class SlotPolicy:
    slot_minutes: int
    buffer_minutes: int
    min_notice: timedelta
    horizon: timedelta
    timezone: str
    daily_cap: int | None = None  # held or confirmed appointments per local day, then the day is full
    # The slots of local day D open at `release_at` local time on day D - release_days_before.
    release_days_before: int | None = None
    release_at: time = time(0)

    @property
    def slot(self) -> timedelta:
        return timedelta(minutes=self.slot_minutes)

    @property
    def buffer(self) -> timedelta:
        return timedelta(minutes=self.buffer_minutes)

    def last_released_day(self, now_local: datetime) -> date | None:
        """The last local date whose slots are open for booking at `now_local` (None: no schedule)."""
        if self.release_days_before is None:
            return None
        released_today = now_local.time() >= self.release_at
        return now_local.date() + timedelta(days=self.release_days_before - (0 if released_today else 1))


class Refusal(StrEnum):
    """Why a start time is not offered; each has its own message for the person asking."""

    TOO_SOON = "too_soon"
    TOO_FAR = "too_far"
    NOT_RELEASED = "not_released"
    DAY_FULL = "day_full"
    NOT_OPEN = "not_open"  # not on the slot grid of the day's hours (day off, holiday, outside hours)
    TAKEN = "taken"


def window_bounds_utc(window: WeeklyWindow, on: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The window on one local date, as UTC instants.

    Each date is converted on its own because the UTC offset can differ between dates (daylight saving
    in zones other than Asia/Shanghai); a local time in a DST gap resolves the way zoneinfo does (fold=0).
    """
    return _bounds(window.start, window.end, on, zone)


def _bounds(start: time, end: time, on: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    return (
        datetime.combine(on, start, tzinfo=zone).astimezone(UTC),
        datetime.combine(on, end, tzinfo=zone).astimezone(UTC),
    )


def _blocked_intervals(
    busy: Iterable[BusyPeriod], buffer: timedelta
) -> tuple[list[datetime], list[datetime]]:
    """Busy periods widened by the buffer on both sides and merged: disjoint, sorted starts and ends.

    Merging makes both lists ascending, so one bisect answers "does [start, end) clash?" — a slot check
    stays O(log n) however many appointments an expert has.
    """
    starts: list[datetime] = []
    ends: list[datetime] = []
    for period in sorted(busy, key=lambda b: b.starts_at):
        # The buffer keeps a gap on both sides of every booked period: the expert needs it between parents.
        lo, hi = period.starts_at - buffer, period.ends_at + buffer
        if ends and lo <= ends[-1]:
            ends[-1] = max(ends[-1], hi)
        else:
            starts.append(lo)
            ends.append(hi)
    return starts, ends


def _clashes(start: datetime, end: datetime, blocked: tuple[list[datetime], list[datetime]]) -> bool:
    starts, ends = blocked
    # The last blocked interval that begins before this slot ends is the only one that can overlap it.
    i = bisect_left(starts, end) - 1
    return i >= 0 and ends[i] > start


def _check_policy(policy: SlotPolicy, now: datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if policy.slot_minutes <= 0 or policy.buffer_minutes < 0:
        raise ValueError("slot length must be positive and the buffer not negative")


def _grid(plan: DayPlan, day: date, policy: SlotPolicy, zone: ZoneInfo) -> list[datetime]:
    """Every start on the day's slot grid, before notice, window, cap or busy time are considered.

    Each opening runs start, start + (slot + buffer), ...; a slot lies wholly inside one opening.
    Overlapping openings could offer overlapping starts; the earliest of each run is kept so a day never
    offers two slots one person could not both attend.
    """
    step = policy.slot + policy.buffer
    starts: list[datetime] = []
    for open_local, close_local in plan.hours_on(day):
        start, close_at = _bounds(open_local, close_local, day, zone)
        while start + policy.slot <= close_at:
            starts.append(start)
            start += step
    starts.sort()
    kept: list[datetime] = []
    for start in starts:
        if not kept or start >= kept[-1] + step:
            kept.append(start)
    return kept


def _per_day(busy: Iterable[BusyPeriod], zone: ZoneInfo) -> Counter[date]:
    return Counter(b.starts_at.astimezone(zone).date() for b in busy)


def _as_plan(windows: Iterable[WeeklyWindow] | DayPlan) -> DayPlan:
    if isinstance(windows, DayPlan):
        return windows
    # Plain weekly windows (the engine's original input) know no holidays or exceptions.
    return DayPlan.of(((w.weekday, w.start, w.end) for w in windows), follows_holidays=False)


def free_slots(
    windows: Iterable[WeeklyWindow] | DayPlan,
    busy: Iterable[BusyPeriod],
    policy: SlotPolicy,
    *,
    now: datetime,
    limit: int | None = None,
) -> list[datetime]:
    """Slot start times (UTC, sorted, non-overlapping) that can still be booked, at most `limit`.

    A slot lies on the day's slot grid (see `_grid`); it starts no earlier than now + minimum notice and
    no later than now + horizon, on a day already released and not yet full; and it keeps the buffer from
    every busy period.
    """
    _check_policy(policy, now)
    plan = _as_plan(windows)
    zone = ZoneInfo(policy.timezone)
    busy = list(busy)
    earliest = now + policy.min_notice
    latest = now + policy.horizon
    blocked = _blocked_intervals(busy, policy.buffer)
    taken_per_day = _per_day(busy, zone) if policy.daily_cap is not None else Counter[date]()
    released = policy.last_released_day(now.astimezone(zone))

    slots: list[datetime] = []
    # One day either side: a window late on a local date can fall on the neighbouring UTC date.
    day = earliest.astimezone(zone).date() - timedelta(days=1)
    last_day = latest.astimezone(zone).date() + timedelta(days=1)
    if released is not None:
        last_day = min(last_day, released)
    while day <= last_day:
        if policy.daily_cap is None or taken_per_day[day] < policy.daily_cap:
            for start in _grid(plan, day, policy, zone):
                if earliest <= start <= latest and not _clashes(start, start + policy.slot, blocked):
                    slots.append(start)
                    if limit is not None and len(slots) >= limit:
                        return slots
        day += timedelta(days=1)
    return slots


def refusal(
    start: datetime,
    windows: Iterable[WeeklyWindow] | DayPlan,
    busy: Iterable[BusyPeriod],
    policy: SlotPolicy,
    *,
    now: datetime,
) -> Refusal | None:
    """None when `free_slots` would offer `start`, else why not. Looks at `start`'s local day only, so a
    hold costs one day's grid instead of the whole horizon; `busy` needs only that day's neighbours."""
    _check_policy(policy, now)
    zone = ZoneInfo(policy.timezone)
    day = start.astimezone(zone).date()
    if start < now + policy.min_notice:
        return Refusal.TOO_SOON
    if start > now + policy.horizon:
        return Refusal.TOO_FAR
    released = policy.last_released_day(now.astimezone(zone))
    if released is not None and day > released:
        return Refusal.NOT_RELEASED
    if start not in _grid(_as_plan(windows), day, policy, zone):
        return Refusal.NOT_OPEN
    busy = list(busy)
    if policy.daily_cap is not None and _per_day(busy, zone)[day] >= policy.daily_cap:
        return Refusal.DAY_FULL
    if _clashes(start, start + policy.slot, _blocked_intervals(busy, policy.buffer)):
        return Refusal.TAKEN
    return None


def slots_by_local_day(slots: list[datetime], timezone: str) -> list[tuple[datetime, list[datetime]]]:
    """Sorted slots grouped by their local date, each group headed by its first slot (for the day label)."""
    zone = ZoneInfo(timezone)
    return [
        (group[0], group)
        for _, g in groupby(slots, key=lambda s: s.astimezone(zone).date())
        if (group := list(g))
    ]
