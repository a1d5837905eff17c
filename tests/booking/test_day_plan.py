"""Opening hours per date (exceptions, China's holidays and make-up days) and the slot rules built on
them, without a database. Asia/Shanghai is UTC+8 all year (no DST), so 09:00 local is 01:00 UTC on every
date below; the tests assert that rather than assume it."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta

import pytest

from booking.availability import BusyPeriod, Refusal, SlotPolicy, free_slots, refusal
from booking.day_plan import DateException, DayPlan
from core.china_calendar import DayKind, day_kind, makeup_replaces

ZONE = "Asia/Shanghai"
WEEKDAYS_9_TO_12 = [(d, time(9), time(12)) for d in range(5)]
FRIDAY_AFTERNOON = (4, time(14), time(17))
WEDNESDAY_EVENING = (2, time(18), time(20))


def _policy(**kw: object) -> SlotPolicy:
    values: dict[str, object] = {
        "slot_minutes": 50,
        "buffer_minutes": 10,
        "min_notice": timedelta(hours=2),
        "horizon": timedelta(days=60),
        "timezone": ZONE,
    }
    values.update(kw)
    return SlotPolicy(**values)  # type: ignore[arg-type]


def hours(plan: DayPlan, day: date) -> list[tuple[time, time]]:
    return list(plan.hours_on(day))


def _local_days(slots: list[datetime]) -> set[date]:
    return {(s + timedelta(hours=8)).date() for s in slots}


def test_shanghai_has_no_daylight_saving_so_local_nine_is_one_utc_all_year():
    plan = DayPlan.of(WEEKDAYS_9_TO_12, follows_holidays=False)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    slots = free_slots(plan, [], _policy(horizon=timedelta(days=365)), now=now)
    assert {s.time() for s in slots} == {time(1), time(2), time(3)}  # 09:00, 10:00 and 11:00 local


def test_the_calendar_names_holidays_and_the_weekday_a_make_up_saturday_works_for():
    assert day_kind(date(2026, 10, 1)) is DayKind.HOLIDAY
    assert day_kind(date(2026, 10, 10)) is DayKind.MAKEUP_WORKDAY and date(2026, 10, 10).weekday() == 5
    assert day_kind(date(2026, 11, 28)) is DayKind.WEEKEND
    assert day_kind(date(2026, 11, 27)) is DayKind.WORKDAY
    # The 2026 National Day make-up Saturday pairs with the weekday off in lieu, Wednesday 7 October.
    assert makeup_replaces(date(2026, 10, 10)) == date(2026, 10, 7).weekday() == 2
    assert makeup_replaces(date(2026, 10, 9)) is None


def test_no_weekly_hours_on_a_holiday_and_a_make_up_saturday_takes_the_replaced_weekdays_hours():
    plan = DayPlan.of([*WEEKDAYS_9_TO_12, WEDNESDAY_EVENING])
    assert hours(plan, date(2026, 10, 1)) == []  # Thursday, National Day
    assert hours(plan, date(2026, 10, 7)) == []  # Wednesday off in lieu
    # Saturday 10 October is worked for Wednesday: Wednesday's hours, evening included.
    assert hours(plan, date(2026, 10, 10)) == [(time(9), time(12)), (time(18), time(20))]
    assert hours(plan, date(2026, 10, 17)) == []  # an ordinary Saturday

    now = datetime(2026, 9, 28, tzinfo=UTC)
    days = _local_days(free_slots(plan, [], _policy(horizon=timedelta(days=20)), now=now))
    assert date(2026, 10, 10) in days
    assert not days & {date(2026, 10, d) for d in range(1, 8)}  # 1–7 October off
    assert date(2026, 10, 8) in days


def test_a_site_that_does_not_follow_holidays_keeps_the_weekly_hours():
    plan = DayPlan.of(WEEKDAYS_9_TO_12, follows_holidays=False)
    assert hours(plan, date(2026, 10, 1)) == [(time(9), time(12))]
    assert hours(plan, date(2026, 10, 10)) == []


def test_past_the_years_the_package_knows_the_weekly_hours_apply(caplog):
    unknown = date(2031, 1, 1)  # New Year's Day, but no published schedule in the package
    assert day_kind(unknown) is None
    plan = DayPlan.of([(unknown.weekday(), time(9), time(12))])
    with caplog.at_level(logging.WARNING):
        assert hours(plan, unknown) == [(time(9), time(12))]


def test_days_off_hours_away_and_extra_hours_change_only_their_dates():
    plan = DayPlan.of(
        [*WEEKDAYS_9_TO_12, FRIDAY_AFTERNOON],
        [
            DateException(extra=False, first_day=date(2026, 12, 7), last_day=date(2026, 12, 9)),
            DateException(False, date(2026, 12, 11), date(2026, 12, 11), time(10), time(15)),
            DateException(True, date(2026, 12, 12), date(2026, 12, 12), time(13), time(16)),
        ],
    )
    assert [hours(plan, date(2026, 12, d)) for d in (7, 8, 9)] == [[], [], []]
    assert hours(plan, date(2026, 12, 10)) == [(time(9), time(12))]
    assert hours(plan, date(2026, 12, 11)) == [(time(9), time(10)), (time(15), time(17))]
    assert hours(plan, date(2026, 12, 12)) == [(time(13), time(16))]  # a Saturday opened on purpose
    assert hours(plan, date(2026, 12, 14)) == [(time(9), time(12))]


def test_extra_hours_open_a_holiday():
    plan = DayPlan.of(
        WEEKDAYS_9_TO_12, [DateException(True, date(2026, 10, 2), date(2026, 10, 2), time(9), time(11))]
    )
    assert hours(plan, date(2026, 10, 2)) == [(time(9), time(11))]


def test_refusal_agrees_with_free_slots_for_every_start_of_a_busy_fortnight():
    plan = DayPlan.of(
        [*WEEKDAYS_9_TO_12, FRIDAY_AFTERNOON],
        [DateException(False, date(2026, 12, 8), date(2026, 12, 8))],
    )
    now = datetime(2026, 12, 6, 23, 30, tzinfo=UTC)
    busy = [BusyPeriod(datetime(2026, 12, 10, 1, tzinfo=UTC), datetime(2026, 12, 10, 1, 50, tzinfo=UTC))]
    policy = _policy(horizon=timedelta(days=14), daily_cap=3, release_days_before=10, release_at=time(8))
    offered = set(free_slots(plan, busy, policy, now=now))
    assert offered
    start = datetime(2026, 12, 6, tzinfo=UTC)
    while start < datetime(2026, 12, 22, tzinfo=UTC):
        assert (refusal(start, plan, busy, policy, now=now) is None) == (start in offered), start
        start += timedelta(minutes=30)


def test_each_refusal_names_its_reason():
    plan = DayPlan.of(WEEKDAYS_9_TO_12, follows_holidays=False)
    now = datetime(2026, 12, 7, 0, 0, tzinfo=UTC)  # Monday 08:00 local
    monday_nine = datetime(2026, 12, 7, 1, tzinfo=UTC)
    tuesday_nine = monday_nine + timedelta(days=1)
    assert refusal(monday_nine, plan, [], _policy(), now=now) is Refusal.TOO_SOON
    assert refusal(
        tuesday_nine + timedelta(days=7), plan, [], _policy(horizon=timedelta(days=3)), now=now
    ) is (Refusal.TOO_FAR)
    # Slots of day D open at 08:00 two days before: Wednesday's are open, Thursday's not yet.
    released = _policy(release_days_before=2, release_at=time(8))
    assert refusal(tuesday_nine + timedelta(days=1), plan, [], released, now=now) is None
    assert refusal(tuesday_nine + timedelta(days=2), plan, [], released, now=now) is Refusal.NOT_RELEASED
    assert refusal(tuesday_nine + timedelta(minutes=20), plan, [], _policy(), now=now) is Refusal.NOT_OPEN
    taken = [BusyPeriod(tuesday_nine, tuesday_nine + timedelta(minutes=50))]
    assert refusal(tuesday_nine, plan, taken, _policy(), now=now) is Refusal.TAKEN
    one_a_day = _policy(daily_cap=1)
    assert refusal(tuesday_nine + timedelta(hours=1), plan, taken, one_a_day, now=now) is Refusal.DAY_FULL
    assert tuesday_nine + timedelta(hours=1) not in free_slots(plan, taken, one_a_day, now=now)


@pytest.mark.parametrize(("utc_minutes_after", "last_open"), [(0, date(2026, 12, 7)), (1, date(2026, 12, 8))])
def test_the_release_moment_is_local_wall_clock_time(utc_minutes_after, last_open):
    plan = DayPlan.of([(d, time(9), time(12)) for d in range(7)], follows_holidays=False)
    policy = _policy(release_days_before=7, release_at=time(8), min_notice=timedelta(0))
    # 23:59 UTC on 30 November is 07:59 local on 1 December; a minute later the day 7 days on opens.
    now = datetime(2026, 11, 30, 23, 59, tzinfo=UTC) + timedelta(minutes=utc_minutes_after)
    assert max(_local_days(free_slots(plan, [], policy, now=now))) == last_open
