"""Mainland China's official calendar: statutory holidays and make-up working days (调休).

Dates here are calendar dates in China (Asia/Shanghai, UTC+8 all year: China has had no daylight saving
since 1991), never instants. The schedule comes from `chinesecalendar` (import `chinese_calendar`), which
ships the State Council's published schedule year by year and raises NotImplementedError for a year it
does not know (1.11.0: 2004–2026). Every function here answers None for such a year and lets the caller
choose its fallback: hotline counts Monday to Friday as working days, booking uses the weekly hours.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from functools import cache

import chinese_calendar
from chinese_calendar.constants import in_lieu_days, workdays

__all__ = ["DayKind", "day_kind", "makeup_replaces", "official_working_day"]


class DayKind(StrEnum):
    WORKDAY = "workday"  # Monday to Friday, no holiday
    WEEKEND = "weekend"
    HOLIDAY = "holiday"  # a statutory holiday or a weekday off in exchange for a make-up day
    MAKEUP_WORKDAY = "makeup_workday"  # a Saturday or Sunday worked (调休 上班)


def official_working_day(day: date) -> bool | None:
    """Whether `day` is a working day in China, or None past the years the package knows."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return None


@cache  # asked for every expert and date of a roster-wide search
def day_kind(day: date) -> DayKind | None:
    working = official_working_day(day)
    if working is None:
        return None
    weekend = day.weekday() >= 5
    if working:
        return DayKind.MAKEUP_WORKDAY if weekend else DayKind.WORKDAY
    # is_holiday is true on every ordinary Saturday and Sunday too; a named holiday has a name.
    if weekend and chinese_calendar.get_holiday_detail(day)[1] is None:
        return DayKind.WEEKEND
    return DayKind.HOLIDAY


def makeup_replaces(day: date) -> int | None:
    """The weekday (0 = Monday) whose work a make-up working day takes over, or None if `day` is not one.

    The State Council's notice swaps each make-up Saturday/Sunday with a weekday off next to the holiday
    (e.g. Sunday 28 September 2025 is worked for Tuesday 7 October). The package does not pair them, but
    it lists both per holiday: the k-th make-up day of a holiday in a year pairs with its k-th day off in
    lieu. When the counts differ (a schedule the package records unevenly) the unpaired make-up day counts
    as a Monday.
    """
    if day not in workdays or day.weekday() < 5:
        return None
    makeup, in_lieu = _pairs(day.year, workdays[day])
    index = makeup.index(day)
    return in_lieu[index].weekday() if index < len(in_lieu) else 0


@cache
def _pairs(year: int, holiday: str) -> tuple[list[date], list[date]]:
    makeup = sorted(
        d for d, name in workdays.items() if d.year == year and name == holiday and d.weekday() >= 5
    )
    in_lieu = sorted(d for d, name in in_lieu_days.items() if d.year == year and name == holiday)
    return makeup, in_lieu
