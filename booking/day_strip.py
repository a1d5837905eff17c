"""The parent's slot page on a phone: a strip of days (two weeks a page, each marked free or not) and the
times of one chosen day, instead of one list of every free time in the horizon.

Pure: the free slots and today's local date come in, the page's shape goes out. Plain links carry the
state (`from` = first day of the strip page, `day` = the chosen day), so no script is needed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_date

from booking.errors import BookingInvalid
from core.i18n import N_, current_locale
from core.templating import babel_locale

__all__ = ["STRIP_DAYS", "DayStrip", "StripDay", "build_strip", "day_label", "parse_day"]

STRIP_DAYS = 14


@dataclass(frozen=True)
class StripDay:
    on: date
    free: int  # free start times that day


@dataclass(frozen=True)
class DayStrip:
    days: list[StripDay]
    chosen: date | None  # None: no day of this page has a free time
    times: list[datetime]  # the chosen day's free starts (UTC)
    earlier: date | None  # first day of the previous page, if any
    later: date | None  # first day of the next page, if within the horizon
    soonest: datetime | None  # the first free time of all, whatever page is shown


def parse_day(raw: str | None) -> date | None:
    """A `from`/`day` query value (YYYY-MM-DD); absent is None, anything else unreadable is a 400."""
    if raw is None or raw == "":
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise BookingInvalid({"day": N_("Choose a day from the list of days.")}) from None


def build_strip(
    slots: list[datetime],
    *,
    timezone: str,
    today: date,
    horizon_days: int,
    start: date | None,
    chosen: date | None,
) -> DayStrip:
    zone = ZoneInfo(timezone)
    by_day: dict[date, list[datetime]] = defaultdict(list)
    for slot in slots:
        by_day[slot.astimezone(zone).date()].append(slot)
    last_day = today + timedelta(days=max(horizon_days, 0))
    # A page starts today or a whole number of pages later; an old or edited link lands on a real page.
    offset = 0 if start is None else (start - today).days
    pages_ahead = max(0, min(offset, (last_day - today).days)) // STRIP_DAYS
    first = today + timedelta(days=pages_ahead * STRIP_DAYS)
    days = [
        StripDay(on, len(by_day.get(on, [])))
        for i in range(STRIP_DAYS)
        if (on := first + timedelta(days=i)) <= last_day
    ]
    if chosen is None or all(d.on != chosen for d in days):
        chosen = next((d.on for d in days if d.free), None)
    later = first + timedelta(days=STRIP_DAYS)
    # No paging into days with nothing to book (the horizon's tail, a booking window or release rule).
    has_later = later <= last_day and any(later <= on <= last_day for on in by_day)
    return DayStrip(
        days=days,
        chosen=chosen,
        times=by_day.get(chosen, []) if chosen else [],
        earlier=first - timedelta(days=STRIP_DAYS) if first > today else None,
        later=later if has_later else None,
        soonest=slots[0] if slots else None,
    )


def day_label(on: date, pattern: str) -> str:
    """A local date in the reader's language: "EEE" 周二 / Tue, "M/d" 12/3, "full" for headings."""
    return format_date(on, format=pattern, locale=babel_locale(current_locale()))
