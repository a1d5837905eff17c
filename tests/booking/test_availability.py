"""Free slots from weekly rules: properties that must hold for any rules, bookings and clock."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from booking.availability import BusyPeriod, SlotPolicy, WeeklyWindow, free_slots, window_bounds_utc

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _policy(slot: int = 50, buffer: int = 10, zone: str = "Asia/Shanghai", **kw: int) -> SlotPolicy:
    return SlotPolicy(
        slot_minutes=slot,
        buffer_minutes=buffer,
        min_notice=timedelta(hours=kw.get("notice", 2)),
        horizon=timedelta(days=kw.get("horizon", 14)),
        timezone=zone,
    )


@st.composite
def windows(draw: st.DrawFn) -> WeeklyWindow:
    start = draw(st.integers(min_value=0, max_value=23 * 60 - 15))
    end = draw(st.integers(min_value=start + 15, max_value=24 * 60 - 1))
    return WeeklyWindow(
        weekday=draw(st.integers(min_value=0, max_value=6)),
        start=time(start // 60, start % 60),
        end=time(end // 60, end % 60),
    )


NOW = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC))


@st.composite
def busy_periods(draw: st.DrawFn, now: datetime) -> list[BusyPeriod]:
    periods = []
    for _ in range(draw(st.integers(min_value=0, max_value=8))):
        offset = draw(st.integers(min_value=0, max_value=14 * 24 * 60))
        length = draw(st.integers(min_value=15, max_value=180))
        start = now + timedelta(minutes=offset)
        periods.append(BusyPeriod(start, start + timedelta(minutes=length)))
    return periods


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[WeeklyWindow], list[BusyPeriod], SlotPolicy, datetime]:
    now = draw(NOW)
    policy = _policy(
        slot=draw(st.sampled_from([20, 30, 45, 50, 60, 90])),
        buffer=draw(st.sampled_from([0, 5, 10, 15])),
        zone=draw(st.sampled_from(["Asia/Shanghai", "Europe/Berlin", "America/New_York"])),
        notice=draw(st.integers(min_value=0, max_value=48)),
        horizon=draw(st.integers(min_value=1, max_value=14)),
    )
    return draw(st.lists(windows(), max_size=6)), draw(busy_periods(now)), policy, now


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_no_slot_overlaps_a_booked_period_including_the_buffer(scenario):
    rules, busy, policy, now = scenario
    for start in free_slots(rules, busy, policy, now=now):
        end = start + policy.slot
        for b in busy:
            assert end + policy.buffer <= b.starts_at or start >= b.ends_at + policy.buffer


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_every_slot_lies_inside_a_rule_window(scenario):
    rules, busy, policy, now = scenario
    zone = ZoneInfo(policy.timezone)
    for start in free_slots(rules, busy, policy, now=now):
        local_day = start.astimezone(zone).date()
        inside = False
        for day in (local_day - timedelta(days=1), local_day, local_day + timedelta(days=1)):
            for rule in rules:
                if rule.weekday != day.weekday():
                    continue
                open_at, close_at = window_bounds_utc(rule, day, zone)
                inside = inside or (open_at <= start and start + policy.slot <= close_at)
        assert inside, start


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_no_slot_before_the_minimum_notice_or_past_the_horizon(scenario):
    rules, busy, policy, now = scenario
    for start in free_slots(rules, busy, policy, now=now):
        assert now + policy.min_notice <= start <= now + policy.horizon
        assert start.tzinfo is not None and start.utcoffset() == timedelta(0)


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_slots_are_sorted_and_never_overlap_each_other(scenario):
    rules, busy, policy, now = scenario
    slots = free_slots(rules, busy, policy, now=now)
    for earlier, later in pairwise(slots):
        assert earlier + policy.slot + policy.buffer <= later


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_booking_a_free_slot_removes_it_and_nothing_else_that_stays_clear(scenario):
    rules, busy, policy, now = scenario
    before = free_slots(rules, busy, policy, now=now)
    if not before:
        return
    taken = before[len(before) // 2]
    after = free_slots(rules, [*busy, BusyPeriod(taken, taken + policy.slot)], policy, now=now)
    assert taken not in after
    assert set(after) <= set(before)


def test_a_tuesday_morning_rule_gives_shanghai_slots_in_utc():
    # Monday 2026-03-02 08:00 in Shanghai; the rule is Tuesday 09:00–12:00 local, 50 + 10 minutes.
    now = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
    rule = WeeklyWindow(weekday=1, start=time(9, 0), end=time(12, 0))
    slots = free_slots([rule], [], _policy(horizon=2), now=now)
    assert [s.astimezone(SHANGHAI).strftime("%a %H:%M") for s in slots] == [
        "Tue 09:00",
        "Tue 10:00",
        "Tue 11:00",
    ]
    assert slots[0] == datetime(2026, 3, 3, 1, 0, tzinfo=UTC)


def test_a_booked_hour_and_its_buffer_are_left_out_and_notice_hides_the_first_slot():
    rule = WeeklyWindow(weekday=1, start=time(9, 0), end=time(12, 0))
    now = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)  # Tuesday 07:30 local: 09:00 is inside the 2 h notice
    booked = BusyPeriod(datetime(2026, 3, 3, 2, 0, tzinfo=UTC), datetime(2026, 3, 3, 2, 50, tzinfo=UTC))
    slots = free_slots([rule], [booked], _policy(horizon=1), now=now)
    assert [s.astimezone(SHANGHAI).strftime("%H:%M") for s in slots] == ["11:00"]


def test_daylight_saving_days_keep_local_wall_clock_times():
    # Berlin moves clocks forward on 2026-03-29: 10:00 local is 09:00 UTC before and 08:00 UTC after.
    rule = WeeklyWindow(weekday=4, start=time(10, 0), end=time(11, 0))
    now = datetime(2026, 3, 21, tzinfo=UTC)
    slots = free_slots([rule], [], _policy(slot=60, buffer=0, zone="Europe/Berlin", horizon=14), now=now)
    assert slots == [datetime(2026, 3, 27, 9, 0, tzinfo=UTC), datetime(2026, 4, 3, 8, 0, tzinfo=UTC)]
