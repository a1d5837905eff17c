"""Working days for due dates: China's statutory holidays are off, the make-up Saturdays and Sundays
(调休) are on, and past the years the installed calendar knows, Monday to Friday with one warning."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

import chinese_calendar
import pytest

import hotline.working_days
from hotline.working_days import add_working_days, end_of_local_day, is_working_day

LAST_KNOWN_YEAR = max(day.year for day in chinese_calendar.holidays)


def test_the_installed_calendar_knows_2026():
    # 1.11.0 ships 2004–2026; the tests below rely on the 2026 schedule being present.
    assert LAST_KNOWN_YEAR >= 2026


@pytest.mark.parametrize(
    ("start", "days", "due"),
    [
        # Spring Festival 2026: off 15–23 February; Saturday 14 and Saturday 28 February are worked.
        (date(2026, 2, 12), 1, date(2026, 2, 13)),  # Thu → Fri
        (date(2026, 2, 13), 1, date(2026, 2, 14)),  # Fri → the make-up Saturday
        (date(2026, 2, 14), 1, date(2026, 2, 24)),  # then nine days off
        (date(2026, 2, 12), 5, date(2026, 2, 26)),  # 13, 14, 24, 25, 26
        (date(2026, 2, 26), 2, date(2026, 2, 28)),  # 27, and the make-up Saturday 28
        # National Day 2026: off 1–7 October; Sunday 20 September and Saturday 10 October are worked.
        (date(2026, 9, 30), 1, date(2026, 10, 8)),
        (date(2026, 10, 9), 1, date(2026, 10, 10)),  # the make-up Saturday
        (date(2026, 9, 18), 1, date(2026, 9, 20)),  # Fri → the make-up Sunday, not Monday
        (date(2026, 9, 24), 1, date(2026, 9, 28)),  # 25 September is a holiday in 2026
        (date(2026, 11, 26), 0, date(2026, 11, 26)),  # no days: the same day
    ],
)
def test_holidays_are_skipped_and_make_up_days_count(start, days, due):
    assert add_working_days(start, days) == due


def test_the_make_up_days_and_holidays_the_tests_use_are_the_librarys():
    assert is_working_day(date(2026, 2, 14)) and date(2026, 2, 14).weekday() == 5
    assert is_working_day(date(2026, 10, 10)) and date(2026, 10, 10).weekday() == 5
    assert not is_working_day(date(2026, 10, 5)) and date(2026, 10, 5).weekday() == 0


def test_past_the_known_years_monday_to_friday_counts_with_one_warning(caplog, monkeypatch):
    monkeypatch.setattr(hotline.working_days, "_warned_years", set())
    unknown = LAST_KNOWN_YEAR + 1
    with caplog.at_level(logging.WARNING, logger="hotline.working_days"):
        # 1 January of an unknown year is a holiday in real life, but the library cannot say so.
        friday = next(date(unknown, 1, d) for d in range(1, 8) if date(unknown, 1, d).weekday() == 4)
        assert add_working_days(friday, 1) == date(unknown, 1, friday.day + 3)  # the Monday after
        assert add_working_days(friday, 5) == date(unknown, 1, friday.day + 7)
    warnings = [r for r in caplog.records if str(unknown) in r.getMessage()]
    assert len(warnings) == 1


def test_a_due_date_crossing_into_an_unknown_year_counts_both_years():
    # From 29 December 2026 (known) into 2027 (not known here): 30, 31 Dec, then 1, 4 Jan 2027.
    due = add_working_days(date(LAST_KNOWN_YEAR, 12, 29), 4)
    assert due.year == LAST_KNOWN_YEAR + 1 and due.weekday() < 5


def test_the_due_moment_is_the_end_of_the_local_day_in_utc():
    assert end_of_local_day(date(2026, 12, 1), "Asia/Shanghai") == datetime(
        2026, 12, 1, 15, 59, 59, tzinfo=UTC
    )


def test_negative_days_are_a_programming_error():
    with pytest.raises(ValueError):
        add_working_days(date(2026, 1, 5), -1)
