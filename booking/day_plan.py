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
from dataclasses import dataclass
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
    """Hashable (so the slot engine can memoise a plan's grid of starts): weekly hours as a tuple of seven
    tuples, Monday first."""

    weekly: tuple[tuple[Hours, ...], ...]  # index = weekday (0 = Monday)
    exceptions: tuple[DateException, ...] = ()
    follows_holidays: bool = True

    @classmethod
    def of(
        cls,
        weekly: Iterable[tuple[int, time, time]],
        exceptions: Iterable[DateException] = (),
        *,
        follows_holidays: bool = True,
    ) -> DayPlan:
        by_day: list[list[Hours]] = [[] for _ in range(7)]
        for weekday, start, end in weekly:
            by_day[weekday].append((start, end))
        return cls(tuple(tuple(sorted(h)) for h in by_day), tuple(exceptions), follows_holidays)

    def hours_on(self, day: date) -> tuple[Hours, ...]:
        """Opening hours on `day`, sorted by start (they may overlap when rules do)."""
        weekday = day.weekday()
        if self.follows_holidays:
            kind = day_kind(day)
            if kind is DayKind.HOLIDAY:
                return self._with_exceptions(day, ())
            if kind is DayKind.MAKEUP_WORKDAY:
                weekday = makeup_replaces(day) or 0
        return self._with_exceptions(day, self.weekly[weekday])

    def _with_exceptions(self, day: date, hours: tuple[Hours, ...]) -> tuple[Hours, ...]:
        if not self.exceptions:
            return hours
        changed = list(hours)
        for x in self.exceptions:
            if not x.extra and changed and x.covers(day):
                changed = _subtract(changed, x.start, x.end)
        for x in self.exceptions:
            if x.extra and x.start and x.end and x.covers(day):
                changed.append((x.start, x.end))
        return tuple(sorted(changed))


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
