"""An expert's opening hours on one local date: weekly hours, changed by exceptions and China's holidays.

Pure: no database, no clock. The rule, in order:
1. A statutory holiday (when the site follows holidays) has no weekly hours.
2. A make-up working Saturday or Sunday (调休) has the expert's weekly hours of the weekday it is worked
   for (core.china_calendar.makeup_replaces: Sunday 28 September 2025 takes Tuesday's hours), not the
   Saturday's or Sunday's own.
3. Past the years chinesecalendar knows, no day is a holiday or a make-up day: weekly hours apply, and
   a coordinator marks the holidays by hand as days off until the package is upgraded.
4. A day off removes the weekly hours of the whole day; hours away remove just those hours.
5. Extra hours are added last, so a coordinator can open a holiday or a day off on purpose.
Every time is local wall-clock time in the site's zone (Asia/Shanghai: UTC+8 all year, no DST).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, time

from core.china_calendar import DayKind, day_kind, makeup_replaces

__all__ = ["DateException", "DayPlan", "Hours"]

Hours = tuple[time, time]  # [start, end) local


@dataclass(frozen=True)
class DateException:
    """Days off / hours away (`extra` False) or extra hours (`extra` True) on first_day..last_day."""

    extra: bool
    first_day: date
    last_day: date
    start: time | None = None  # None with end None: the whole day (days off only)
    end: time | None = None

    def covers(self, day: date) -> bool:
        return self.first_day <= day <= self.last_day


@dataclass(frozen=True)
class DayPlan:
    weekly: dict[int, list[Hours]]  # weekday (0 = Monday) -> hours
    exceptions: tuple[DateException, ...] = ()
    follows_holidays: bool = True
    _off: tuple[DateException, ...] = field(init=False, repr=False, compare=False)
    _extra: tuple[DateException, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_off", tuple(e for e in self.exceptions if not e.extra))
        object.__setattr__(self, "_extra", tuple(e for e in self.exceptions if e.extra))

    @classmethod
    def of(
        cls,
        weekly: Iterable[tuple[int, time, time]],
        exceptions: Iterable[DateException] = (),
        *,
        follows_holidays: bool = True,
    ) -> DayPlan:
        by_day: dict[int, list[Hours]] = {}
        for weekday, start, end in weekly:
            by_day.setdefault(weekday, []).append((start, end))
        for hours in by_day.values():
            hours.sort()
        return cls(by_day, tuple(exceptions), follows_holidays)

    def hours_on(self, day: date) -> list[Hours]:
        """Opening hours on `day`, sorted by start (they may overlap when rules do)."""
        weekday = day.weekday()
        if self.follows_holidays:
            kind = day_kind(day)
            if kind is DayKind.HOLIDAY:
                weekday = -1
            elif kind is DayKind.MAKEUP_WORKDAY:
                weekday = makeup_replaces(day) or 0
        hours = list(self.weekly.get(weekday, ()))
        for off in self._off:
            if hours and off.covers(day):
                hours = _subtract(hours, off.start, off.end)
        extras = [(e.start, e.end) for e in self._extra if e.covers(day) and e.start and e.end]
        return sorted(hours + extras) if extras else hours


def _subtract(hours: list[Hours], start: time | None, end: time | None) -> list[Hours]:
    if start is None or end is None:
        return []
    left: list[Hours] = []
    for open_at, close_at in hours:
        if close_at <= start or open_at >= end:
            left.append((open_at, close_at))
            continue
        if open_at < start:
            left.append((open_at, start))
        if close_at > end:
            left.append((end, close_at))
    return left
