"""Free slots of an expert, computed (never stored) from weekly rules, busy periods and booking policy.

Pure: no database, no clock. Callers pass `now`, the rules and the appointments that occupy time, so the
same inputs always give the same slots — which is what lets `hold_slot` insist that a requested start is
one of them, and what lets hypothesis test it.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import groupby
from zoneinfo import ZoneInfo

__all__ = [
    "BusyPeriod",
    "SlotPolicy",
    "WeeklyWindow",
    "free_slots",
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

    @property
    def slot(self) -> timedelta:
        return timedelta(minutes=self.slot_minutes)

    @property
    def buffer(self) -> timedelta:
        return timedelta(minutes=self.buffer_minutes)


def window_bounds_utc(window: WeeklyWindow, on: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The window on one local date, as UTC instants.

    Each date is converted on its own because the UTC offset can differ between dates (daylight saving
    in zones other than Asia/Shanghai); a local time in a DST gap resolves the way zoneinfo does (fold=0).
    """
    start = datetime.combine(on, window.start, tzinfo=zone).astimezone(UTC)
    end = datetime.combine(on, window.end, tzinfo=zone).astimezone(UTC)
    return start, end


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


def free_slots(
    windows: Iterable[WeeklyWindow],
    busy: Iterable[BusyPeriod],
    policy: SlotPolicy,
    *,
    now: datetime,
) -> list[datetime]:
    """Slot start times (UTC, sorted, non-overlapping) that can still be booked.

    A slot lies wholly inside one window on the grid start, start + (slot + buffer), ...; it starts no
    earlier than now + minimum notice and no later than now + horizon; and it keeps the buffer from every
    busy period.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if policy.slot_minutes <= 0 or policy.buffer_minutes < 0:
        raise ValueError("slot length must be positive and the buffer not negative")
    zone = ZoneInfo(policy.timezone)
    earliest = now + policy.min_notice
    latest = now + policy.horizon
    step = policy.slot + policy.buffer
    blocked = _blocked_intervals(busy, policy.buffer)
    window_list = list(windows)

    candidates: set[datetime] = set()
    # One day either side: a window late on a local date can fall on the neighbouring UTC date.
    first_day = earliest.astimezone(zone).date() - timedelta(days=1)
    last_day = latest.astimezone(zone).date() + timedelta(days=1)
    day = first_day
    while day <= last_day:
        for window in window_list:
            if window.weekday != day.weekday():
                continue
            open_at, close_at = window_bounds_utc(window, day, zone)
            start = open_at
            while start + policy.slot <= close_at:
                if earliest <= start <= latest and not _clashes(start, start + policy.slot, blocked):
                    candidates.add(start)
                start += step
        day += timedelta(days=1)

    # Overlapping rules on one day can offer overlapping starts; keep the earliest of each run so the
    # result never offers two slots one person could not both attend.
    slots: list[datetime] = []
    for start in sorted(candidates):
        if not slots or start >= slots[-1] + step:
            slots.append(start)
    return slots


def slots_by_local_day(slots: list[datetime], timezone: str) -> list[tuple[datetime, list[datetime]]]:
    """Sorted slots grouped by their local date, each group headed by its first slot (for the day label)."""
    zone = ZoneInfo(timezone)
    return [
        (group[0], group)
        for _, g in groupby(slots, key=lambda s: s.astimezone(zone).date())
        if (group := list(g))
    ]
