"""Working days in mainland China: statutory holidays are off, make-up working days (调休, a Saturday or
Sunday worked in exchange for a longer holiday) are on.

The calendar comes from `chinesecalendar` through core.china_calendar (booking reads it too), which
ships the State Council's published schedule year by year. It only knows the years whose schedule was
published when the installed version was released (1.11.0: 2004–2026; the next year's schedule usually
comes out in November and a new release follows). For a year it does not know, we count Monday to
Friday as working days, log one warning per process and year, and go on: a referral due in such a year
may then fall on a holiday that was not yet published. Upgrading the package fixes the due dates of new
referrals; those already sent keep the date they were given.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from core.china_calendar import official_working_day

__all__ = ["add_working_days", "end_of_local_day", "is_working_day"]

log = logging.getLogger(__name__)

_warned_years: set[int] = set()


def is_working_day(day: date) -> bool:
    working = official_working_day(day)
    if working is None:
        if day.year not in _warned_years:
            _warned_years.add(day.year)
            log.warning(
                "chinesecalendar has no holiday schedule for %s: counting Monday to Friday as working "
                "days; upgrade the package once the State Council publishes that year's schedule",
                day.year,
            )
        return day.weekday() < 5
    return working


def add_working_days(start: date, days: int) -> date:
    """The `days`-th working day after `start` (which itself does not count, worked or not)."""
    if days < 0:
        raise ValueError("days must not be negative")
    current = start
    counted = 0
    while counted < days:
        current += timedelta(days=1)
        if is_working_day(current):
            counted += 1
    return current


def end_of_local_day(day: date, timezone: str) -> datetime:
    """The last moment of `day` in the site's zone, in UTC: a due date read as "by the end of that day"."""
    zone = ZoneInfo(timezone)
    local_end = datetime.combine(day, time(23, 59, 59), tzinfo=zone)
    return local_end.astimezone(UTC)
