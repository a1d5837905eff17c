"""Free slots of an expert, computed (never stored) from opening hours, busy periods and booking rules.

Pure: no database, no clock. Callers pass `now`, the hours (a booking.day_plan.DayPlan, or plain weekly
windows) and the appointments that occupy time, so the same inputs always give the same slots — which is
what lets `hold_slot` insist that a requested start is one of them (`refusal` checks one start against
the same rules without computing the others), and what lets hypothesis test it.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from itertools import groupby
from zoneinfo import ZoneInfo

from booking.day_plan import DayPlan, Hours

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


def _check_policy(policy: SlotPolicy, now: datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if policy.slot_minutes <= 0 or policy.buffer_minutes < 0:
        raise ValueError("slot length must be positive and the buffer not negative")


@lru_cache(maxsize=4096)
def _day_grid(
    hours: tuple[Hours, ...], day: date, slot: timedelta, step: timedelta, zone: str
) -> tuple[datetime, ...]:
    """Every start on one day's slot grid (UTC), before notice, window, cap or busy time count.

    Each opening runs start, start + (slot + buffer), ...; a slot lies wholly inside one opening. Each
    date is converted on its own because the UTC offset can differ between dates (daylight saving in
    zones other than Asia/Shanghai). Overlapping openings could offer overlapping starts; the earliest
    of each run is kept so a day never offers two slots one person could not both attend. Memoised:
    the same hours on the same date give the same grid for every expert who keeps them.
    """
    tz = ZoneInfo(zone)
    starts: list[datetime] = []
    for open_local, close_local in hours:
        start, close_at = _bounds(open_local, close_local, day, tz)
        while start + slot <= close_at:
            starts.append(start)
            start += step
    starts.sort()
    kept: list[datetime] = []
    for start in starts:
        if not kept or start >= kept[-1] + step:
            kept.append(start)
    return tuple(kept)


@dataclass(frozen=True)
class _Grid:
    starts: tuple[datetime, ...]  # every start of the days, ascending
    days: tuple[tuple[date, int, int], ...]  # (local date, first index, end index) for the daily cap


@lru_cache(maxsize=256)  # a grid is at most a few hundred datetimes: a few MB at most
def _horizon_grid(
    plan: DayPlan, first_day: date, last_day: date, slot: timedelta, step: timedelta, zone: str
) -> _Grid:
    """The grid of every day from first_day to last_day, memoised: a roster's experts mostly share their
    hours, and one expert's grid is asked for again and again on the same day."""
    starts: list[datetime] = []
    days: list[tuple[date, int, int]] = []
    day = first_day
    while day <= last_day:
        begin = len(starts)
        starts.extend(_day_grid(plan.hours_on(day), day, slot, step, zone))
        days.append((day, begin, len(starts)))
        day += timedelta(days=1)
    return _Grid(tuple(starts), tuple(days))


def _local(b: BusyPeriod, zone: ZoneInfo) -> date:
    return b.starts_at.astimezone(zone).date()


def _as_plan(windows: Iterable[WeeklyWindow] | DayPlan) -> DayPlan:
    if isinstance(windows, DayPlan):
        return windows
    # Plain weekly windows (the engine's original input) know no holidays or exceptions.
    return DayPlan.of(((w.weekday, w.start, w.end) for w in windows), follows_holidays=False)


def _killed(
    grid: tuple[datetime, ...], busy: Iterable[BusyPeriod], policy: SlotPolicy, lo: int, hi: int
) -> list[tuple[int, int]]:
    """Index ranges of grid starts that clash with a busy period widened by the buffer on both sides.

    A start t clashes with [b0, b1) when t < b1 + buffer and t + slot > b0 - buffer; the grid is sorted,
    so two bisects per busy period find them all, however many slots a day has.
    """
    before = policy.slot + policy.buffer
    after = policy.buffer
    ranges = []
    for b in busy:
        first = bisect_right(grid, b.starts_at - before, lo, hi)
        end = bisect_left(grid, b.ends_at + after, first, hi)
        if first < end:
            ranges.append((first, end))
    return ranges


def free_slots(
    windows: Iterable[WeeklyWindow] | DayPlan,
    busy: Iterable[BusyPeriod],
    policy: SlotPolicy,
    *,
    now: datetime,
    limit: int | None = None,
) -> list[datetime]:
    """Slot start times (UTC, sorted, non-overlapping) that can still be booked, at most `limit`.

    A slot lies on the day's slot grid (see `_day_grid`); it starts no earlier than now + minimum notice
    and no later than now + horizon, on a day already released and not yet full; and it keeps the buffer
    from every busy period.
    """
    _check_policy(policy, now)
    plan = _as_plan(windows)
    zone = ZoneInfo(policy.timezone)
    earliest = now + policy.min_notice
    latest = now + policy.horizon
    # One day either side: a window late on a local date can fall on the neighbouring UTC date.
    first_day = earliest.astimezone(zone).date() - timedelta(days=1)
    last_day = latest.astimezone(zone).date() + timedelta(days=1)
    released = policy.last_released_day(now.astimezone(zone))
    if released is not None:
        last_day = min(last_day, released)
    if last_day < first_day:
        return []
    grid = _horizon_grid(plan, first_day, last_day, policy.slot, policy.slot + policy.buffer, policy.timezone)
    starts = grid.starts
    lo, hi = bisect_left(starts, earliest), bisect_right(starts, latest)
    busy = list(busy)
    killed = _killed(starts, busy, policy, lo, hi)
    if policy.daily_cap is not None:
        taken = Counter(_local(b, zone) for b in busy)
        killed += [(begin, end) for day, begin, end in grid.days if taken[day] >= policy.daily_cap]
    # The free starts are the runs between killed ranges.
    slots: list[datetime] = []
    at = lo
    for first, end in sorted(killed):
        if first > at:
            slots.extend(starts[at:first])
        at = max(at, end)
        if limit is not None and len(slots) >= limit:
            return slots[:limit]
    if at < hi:
        slots.extend(starts[at:hi])
    return slots if limit is None else slots[:limit]


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
    plan = _as_plan(windows)
    step = policy.slot + policy.buffer
    if start not in _day_grid(plan.hours_on(day), day, policy.slot, step, policy.timezone):
        return Refusal.NOT_OPEN
    busy = list(busy)
    if policy.daily_cap is not None and sum(1 for b in busy if _local(b, zone) == day) >= policy.daily_cap:
        return Refusal.DAY_FULL
    if _killed((start,), busy, policy, 0, 1):
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
