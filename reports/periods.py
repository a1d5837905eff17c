"""Reporting periods: a month, quarter, half-year, year or custom range of local dates (the site's zone,
Asia/Shanghai by default), with the period before it and the same period a year earlier.

A period is a half-open range of local dates [start, end); its UTC bounds are local midnights, so a call
at 23:30 on 31 December in Shanghai belongs to December whatever UTC says."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from core.errors import FormInvalid
from core.i18n import N_

__all__ = ["Period", "PeriodKind", "current_period", "parse_period"]


class PeriodKind(StrEnum):
    MONTH = "month"
    QUARTER = "quarter"
    HALF_YEAR = "half"
    YEAR = "year"
    CUSTOM = "custom"


_MONTHS = {PeriodKind.MONTH: 1, PeriodKind.QUARTER: 3, PeriodKind.HALF_YEAR: 6, PeriodKind.YEAR: 12}
_BAD_PERIOD = N_("Give the period as 2026-11, 2026-Q4, 2026-H2, 2026 or two dates.")
_LONGEST_CUSTOM_DAYS = 3 * 366


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class Period:
    kind: PeriodKind
    start: date  # first local day
    end: date  # the local day after the last

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def code(self) -> str:
        """How the period is written in a URL: 2026-11, 2026-Q4, 2026-H2, 2026, or 2026-01-05..2026-02-01."""
        if self.kind == PeriodKind.MONTH:
            return f"{self.start.year}-{self.start.month:02d}"
        if self.kind == PeriodKind.QUARTER:
            return f"{self.start.year}-Q{(self.start.month - 1) // 3 + 1}"
        if self.kind == PeriodKind.HALF_YEAR:
            return f"{self.start.year}-H{(self.start.month - 1) // 6 + 1}"
        if self.kind == PeriodKind.YEAR:
            return str(self.start.year)
        return f"{self.start.isoformat()}..{self.last_day.isoformat()}"

    def utc_bounds(self, timezone: str) -> tuple[datetime, datetime]:
        zone = ZoneInfo(timezone)
        start = datetime.combine(self.start, datetime.min.time(), zone).astimezone(UTC)
        end = datetime.combine(self.end, datetime.min.time(), zone).astimezone(UTC)
        return start, end

    def shifted(self, months: int) -> Period:
        """The same kind of period `months` later (negative: earlier); a custom one by its length in days
        when `months` is the period's own length, else by calendar months."""
        if self.kind == PeriodKind.CUSTOM:
            return Period(self.kind, _shift_day(self.start, months), _shift_day(self.end, months))
        return Period(self.kind, _add_months(self.start, months), _add_months(self.end, months))

    def previous(self) -> Period:
        if self.kind == PeriodKind.CUSTOM:
            return Period(self.kind, self.start - timedelta(days=self.days), self.start)
        return self.shifted(-_MONTHS[self.kind])

    def year_before(self) -> Period:
        return self.shifted(-12)

    def report_due(self) -> date:
        """When a unit's report for this period is due: the 25th of the last month of a quarter, 30 June
        and 31 December for the half-years and the year."""
        if self.kind in (PeriodKind.HALF_YEAR, PeriodKind.YEAR):
            return self.last_day
        return self.last_day.replace(day=25)


def _shift_day(day: date, months: int) -> date:
    try:
        return day.replace(
            year=day.year + (day.month - 1 + months) // 12, month=(day.month - 1 + months) % 12 + 1
        )
    except ValueError:  # 29 February in a year without one
        return day.replace(day=28, year=day.year + (day.month - 1 + months) // 12)


_PATTERNS: list[tuple[re.Pattern[str], PeriodKind]] = [
    (re.compile(r"(\d{4})-(0[1-9]|1[0-2])"), PeriodKind.MONTH),
    (re.compile(r"(\d{4})-[Qq]([1-4])"), PeriodKind.QUARTER),
    (re.compile(r"(\d{4})-[Hh]([12])"), PeriodKind.HALF_YEAR),
    (re.compile(r"(\d{4})()"), PeriodKind.YEAR),
]


def parse_period(raw: str) -> Period:
    """A period from its code (see Period.code); FormInvalid with a message a person understands."""
    text = raw.strip()
    if ".." in text:
        return _custom(*text.split("..", 1))
    for pattern, kind in _PATTERNS:
        match = pattern.fullmatch(text)
        if match is None:
            continue
        year = int(match.group(1))
        if not 2000 <= year <= 2100:
            break
        number = int(match.group(2) or 1)
        start = (
            date(year, 1 + (number - 1) * _MONTHS[kind], 1)
            if kind != PeriodKind.MONTH
            else date(year, number, 1)
        )
        return Period(kind, start, _add_months(start, _MONTHS[kind]))
    raise FormInvalid({"period": _BAD_PERIOD})


def _custom(first: str, last: str) -> Period:
    try:
        start, last_day = date.fromisoformat(first.strip()), date.fromisoformat(last.strip())
    except ValueError:
        raise FormInvalid({"period": _BAD_PERIOD}) from None
    if last_day < start or (last_day - start).days >= _LONGEST_CUSTOM_DAYS or start.year < 2000:
        raise FormInvalid({"period": N_("The last day must follow the first, at most three years later.")})
    return Period(PeriodKind.CUSTOM, start, last_day + timedelta(days=1))


def current_period(kind: PeriodKind, today: date) -> Period:
    """The period of `kind` holding `today` (a custom one: the last 30 days up to today)."""
    if kind == PeriodKind.CUSTOM:
        return Period(kind, today - timedelta(days=29), today + timedelta(days=1))
    months = _MONTHS[kind]
    start = date(today.year, (today.month - 1) // months * months + 1, 1)
    return Period(kind, start, _add_months(start, months))
