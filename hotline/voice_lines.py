"""Which line and unit a call to one of our Twilio numbers belongs to, and whether that line is open.

Parsed from the settings FH_VOICE_NUMBERS and FH_VOICE_HOURS (formats in core.settings). Days follow the
mainland calendar: on a statutory holiday (chinesecalendar) a line keeps the hours listed under `hol`, and
is closed if it lists none; a make-up working day (调休) keeps Monday's hours.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo

import chinese_calendar

from core.settings import Settings, SettingsError
from core.units import DEFAULT_UNIT_ID
from hotline.taxonomy import LINES, Line

__all__ = [
    "CRISIS_CHOICE",
    "MENU_CHOICES",
    "MenuChoice",
    "NumberRoute",
    "is_open",
    "line_for_choice",
    "menu_choices",
    "opening_hours",
    "records_line",
    "route_number",
]

log = logging.getLogger(__name__)

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HOLIDAY = "hol"


@dataclass(frozen=True)
class MenuChoice:
    digit: str
    code: str  # stored in voice_call.menu_choice
    line: str | None  # the line a main-menu call goes to; None: the default line


# The menu (FH_VOICE_CRISIS_DIGIT may move the child-safety digit).
MENU_CHOICES = (
    MenuChoice("1", "consultation", Line.FAMILY_EDUCATION),
    MenuChoice("2", "child_safety", Line.YOUTH_12355),
    MenuChoice("3", "appointment", Line.FAMILY_EDUCATION),
    MenuChoice("0", "operator", None),
)
CRISIS_CHOICE = "child_safety"


def menu_choices(settings: Settings) -> dict[str, MenuChoice]:
    """Digit → choice, with the child-safety option on the configured crisis digit."""
    chosen = {
        c.digit: c for c in MENU_CHOICES if c.code != CRISIS_CHOICE and c.digit != settings.voice_crisis_digit
    }
    crisis = next(c for c in MENU_CHOICES if c.code == CRISIS_CHOICE)
    chosen[settings.voice_crisis_digit] = MenuChoice(settings.voice_crisis_digit, crisis.code, crisis.line)
    return chosen


@dataclass(frozen=True)
class NumberRoute:
    line: str | None  # None: the main menu decides
    unit_id: int


def route_number(settings: Settings, to_number: str) -> NumberRoute:
    """Our number that was called → its line and unit. A number not configured gets the main menu and the
    first unit (Twilio only sends us calls to numbers we pointed here, so this is a set-up slip)."""
    return _numbers(settings.voice_numbers).get(to_number.strip(), NumberRoute(None, DEFAULT_UNIT_ID))


def line_for_choice(settings: Settings, route: NumberRoute, choice: MenuChoice | None) -> str:
    if route.line is not None:
        return route.line
    if choice is not None and choice.line is not None:
        return choice.line
    return settings.voice_default_line


def records_line(settings: Settings, line: str) -> bool:
    return line in {part.strip() for part in settings.voice_recording_lines.split(",") if part.strip()}


@lru_cache(maxsize=8)
def _numbers(raw: str) -> dict[str, NumberRoute]:
    routes: dict[str, NumberRoute] = {}
    for entry in filter(None, (part.strip() for part in raw.split(","))):
        number, _, target = entry.partition("=")
        line, _, unit = target.partition("@")
        line = line.strip() or ""
        if not number.strip().startswith("+") or (line and line not in LINES):
            raise SettingsError(f"FH_VOICE_NUMBERS: {entry!r} is not `+number=line@unit`")
        try:
            unit_id = int(unit) if unit.strip() else DEFAULT_UNIT_ID
        except ValueError:
            raise SettingsError(f"FH_VOICE_NUMBERS: {entry!r} has no unit id after @") from None
        routes[number.strip()] = NumberRoute(line or None, unit_id)
    return routes


Hours = dict[str, list[tuple[time, time]]]  # day key (mon…sun, hol) → open spans; 24:00 is time.max


@lru_cache(maxsize=8)
def _hours(raw: str) -> dict[str, Hours]:
    by_line: dict[str, Hours] = {}
    for block in filter(None, (part.strip() for part in raw.split(";"))):
        line, _, spans = block.partition("=")
        hours: Hours = {}
        for span in filter(None, (part.strip() for part in spans.split(","))):
            try:
                days, clock = span.split()
                start, end = (_clock(text) for text in clock.split("-"))
            except ValueError:
                raise SettingsError(f"FH_VOICE_HOURS: {span!r} is not `days HH:MM-HH:MM`") from None
            for day in _day_keys(days):
                hours.setdefault(day, []).append((start, end))
        by_line[line.strip()] = hours
    return by_line


def _clock(text: str) -> time:
    hour, minute = (int(part) for part in text.split(":"))
    return time.max if (hour, minute) == (24, 0) else time(hour, minute)


def _day_keys(days: str) -> list[str]:
    if days == HOLIDAY:
        return [HOLIDAY]
    first, _, last = days.partition("-")
    if first not in _DAYS or (last and last not in _DAYS):
        raise ValueError(days)
    a, b = _DAYS.index(first), _DAYS.index(last or first)
    return list(_DAYS[a : b + 1])


def opening_hours(settings: Settings) -> dict[str, Hours]:
    return _hours(settings.voice_hours)


def _day_key(day: date) -> str:
    try:
        on_holiday, holiday_name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        return _DAYS[day.weekday()]  # a year the package does not know: plain weekdays
    if on_holiday and holiday_name is not None:
        return HOLIDAY
    if not on_holiday and day.weekday() >= 5:
        return "mon"  # 调休: a weekend day worked
    return _DAYS[day.weekday()]


def is_open(settings: Settings, line: str, now: datetime | None = None) -> bool:
    local = (now or datetime.now(UTC)).astimezone(ZoneInfo(settings.site_timezone))
    spans = opening_hours(settings).get(line, {}).get(_day_key(local.date()), [])
    moment = local.time().replace(tzinfo=None)
    return any(start <= moment < end or (end == time.max and moment >= start) for start, end in spans)
