"""Figures against counts made by hand on the small world of tests/reports/world.py: quarter boundaries
in Shanghai time, the unit tree (a centre below counts, a sibling never), a line-limited viewer, a
coordinator's booking-only view."""

from __future__ import annotations

from datetime import date

import pytest

from core.accounts import Role
from core.db import create_sessionmaker, utcnow
from reports.figures import FigureScope, case_table, compute_figures, median_from_histogram
from reports.periods import PeriodKind, current_period, parse_period
from reports.quarterly import comparison
from tests.conftest import make_user
from tests.reports.world import seed, units

TZ = "Asia/Shanghai"


async def _figures(engine, scope, code="2026-Q3"):
    async with create_sessionmaker(engine)() as s:
        return await compute_figures(s, scope, parse_period(code), timezone=TZ, now=utcnow())


async def test_a_unit_sees_its_own_and_lower_figures_counted_in_local_time(engine):
    world = await units(engine)
    staff = await make_user(engine, Role.SUPERVISOR, unit_id=world.a)
    await seed(engine, staff, world)
    f = await _figures(engine, FigureScope(unit_id=world.a))
    calls = f["calls"]
    assert calls["total"] == 3
    assert calls["by"]["line"] == {"12355": 2, "family_edu": 1}
    assert calls["by"]["day"] == {"2026-07-01": 1, "2026-07-03": 1, "2026-09-30": 1}
    assert calls["by"]["child_age_band"] == {"6-11": 3}
    assert (calls["repeat_callers"], calls["repeat_calls"]) == (1, 2)
    assert f["voice"]["total"] == 0 and f["voice"]["service_level_rate"] is None  # no voice calls here
    cases = f["cases"]
    assert (cases["opened"], cases["closed"], cases["median_hours_to_close"]) == (2, 1, 10.0)
    assert cases["by"]["risk"] == {"high": 1, "unassessed": 1}
    assert cases["by"]["flag"] == {"out_of_school": 1}
    referrals = f["referrals"]
    assert referrals["sent"] == 1
    assert referrals["by_kind"]["police"] == {
        "sent": 1,
        "ack_on_time": 1,
        "feedback": 1,
        "feedback_on_time": 1,
    }
    assert (referrals["ack_on_time_rate"], referrals["median_days_to_feedback"]) == (1.0, 2.0)
    assert f["mandatory_reports"] == {"count": 1, "recorded": 1, "overdue": 0, "median_hours_to_report": 6.0}
    tasks = f["tasks"]
    assert (tasks["due"], tasks["done_on_time"], tasks["on_time_rate"]) == (2, 1, 0.5)
    assert tasks["satisfaction"] == {"satisfied": 1}
    bookings = f["bookings"]
    assert (bookings["total"], bookings["cancelled"], bookings["attendance_recorded"]) == (3, 1, 2)
    assert (bookings["attendance_rate"], bookings["no_show_rate"]) == (0.5, 0.5)
    assert bookings["by"]["mode"] == {"phone": 2, "video": 1}
    assert bookings["by"]["site"] == {"A咨询室": 3}
    assert bookings["by"]["expert"] == {"王老师": 3}
    sms = f["sms"]
    assert (sms["total"], sms["delivered"], sms["failed"], sms["opted_out"]) == (3, 1, 1, 1)


async def test_previous_period_and_a_year_before_are_counted_alike(engine):
    world = await units(engine)
    staff = await make_user(engine, Role.SUPERVISOR, unit_id=world.a)
    await seed(engine, staff, world)
    async with create_sessionmaker(engine)() as s:
        three = await comparison(
            s, FigureScope(unit_id=world.a), parse_period("2026-Q3"), timezone=TZ, now=utcnow()
        )
    assert [three[k]["calls"]["total"] for k in ("current", "previous", "year_before")] == [3, 1, 2]
    assert three["previous"]["period"] == "2026-Q2" and three["year_before"]["period"] == "2025-Q3"
    # The call at 00:30 on 1 October (local) is the fourth quarter's, though it is 30 September in UTC.
    q4 = await _figures(engine, FigureScope(unit_id=world.a), "2026-Q4")
    assert q4["calls"]["total"] == 1 and q4["calls"]["by"]["day"] == {"2026-10-01": 1}


async def test_a_sibling_and_a_lower_unit_see_only_their_own(engine):
    world = await units(engine)
    staff = await make_user(engine, Role.SUPERVISOR, unit_id=world.a)
    await seed(engine, staff, world)
    b = await _figures(engine, FigureScope(unit_id=world.b))
    assert b["calls"]["total"] == 2 and b["cases"]["opened"] == 1
    assert b["bookings"]["by"]["expert"] == {"李老师": 1}
    a1 = await _figures(engine, FigureScope(unit_id=world.a1))
    assert a1["calls"]["total"] == 1 and a1["calls"]["by"]["line"] == {"family_edu": 1}
    # The city above both counts everything.
    city = await _figures(engine, FigureScope(unit_id=1))
    assert city["calls"]["total"] == 5
    # One number called both districts twice: one repeat caller, four calls.
    assert (city["calls"]["repeat_callers"], city["calls"]["repeat_calls"]) == (1, 4)


async def test_line_limited_and_coordinator_scopes(engine):
    world = await units(engine)
    staff = await make_user(engine, Role.SUPERVISOR, unit_id=world.a)
    await seed(engine, staff, world)
    line = await _figures(engine, FigureScope(unit_id=world.a, line="family_edu"))
    assert line["calls"]["total"] == 1 and line["cases"]["opened"] == 1
    assert line["referrals"]["sent"] == 0 and line["tasks"]["due"] == 0
    coordinator = await _figures(engine, FigureScope(unit_id=world.a, booking_only=True))
    assert set(coordinator) == {"period", "start", "end", "bookings", "sms"}
    assert coordinator["bookings"]["total"] == 3


async def test_case_table_is_grouped_without_identities(engine):
    world = await units(engine)
    staff = await make_user(engine, Role.SUPERVISOR, unit_id=world.a)
    await seed(engine, staff, world)
    async with create_sessionmaker(engine)() as s:
        rows = await case_table(s, FigureScope(unit_id=world.a), parse_period("2026-Q3"), timezone=TZ)
    assert rows == [("violence", "6-11", "high", 1), ("violence", "6-11", "unassessed", 1)]


@pytest.mark.parametrize(
    ("histogram", "median"),
    [({}, None), ({5: 1}, 5.0), ({1: 1, 3: 1}, 2.0), ({1: 2, 10: 1}, 1.0), ({1: 1, 2: 1, 9: 2}, 5.5)],
)
def test_median_from_a_histogram(histogram, median):
    assert median_from_histogram(histogram) == median


def test_periods_parse_and_compare():
    q4 = parse_period("2026-Q4")
    assert (q4.start, q4.end, q4.report_due()) == (date(2026, 10, 1), date(2027, 1, 1), date(2026, 12, 25))
    assert q4.previous().code == "2026-Q3" and q4.year_before().code == "2025-Q4"
    h2 = parse_period("2026-H2")
    assert (h2.start, h2.end, h2.previous().code, h2.report_due()) == (
        date(2026, 7, 1),
        date(2027, 1, 1),
        "2026-H1",
        date(2026, 12, 31),
    )
    assert parse_period("2026").previous().code == "2025"
    assert parse_period("2026-01").previous().code == "2025-12"
    custom = parse_period("2026-03-01..2026-03-10")
    assert (custom.days, custom.previous().code) == (10, "2026-02-19..2026-02-28")
    assert current_period(PeriodKind.QUARTER, date(2026, 11, 26)).code == "2026-Q4"
    start, end = q4.utc_bounds(TZ)
    assert (start.isoformat(), end.isoformat()) == ("2026-09-30T16:00:00+00:00", "2026-12-31T16:00:00+00:00")


@pytest.mark.parametrize("bad", ["2026-Q5", "2026-13", "26", "1999", "2026-03-10..2026-03-01", "x..y", ""])
def test_bad_periods_are_refused(bad):
    from core.errors import FormInvalid

    with pytest.raises(FormInvalid):
        parse_period(bad)
