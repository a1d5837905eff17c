"""Exceptions, holidays and booking rules in the database paths: the coordinator's page, parents' holds
and cancellations, the JSON API, and an operator booking from a case — all refused alike, with reasons."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from booking.appointments import book_for_parent, cancel_by_manage_token, hold_slot
from booking.availability_models import AvailabilityException, BookingRules
from booking.booking_rules import change_allowed, change_deadline, resolve
from booking.errors import SlotTaken, SlotUnavailable
from booking.models import Expert
from booking.parent_details import ParentDetails
from booking.slot_times import iso_utc
from booking.slots import slots_for_expert
from booking.soonest import free_slots_of, soonest_by_specialty
from core.accounts import Role
from core.db import create_engine, create_sessionmaker, utcnow
from core.errors import Conflict
from core.i18n import load_translations
from core.privacy import FieldCipher
from core.settings import Settings
from core.units import DEFAULT_UNIT_ID, UnitKind, create_unit
from tests.booking.conftest import add_expert, appointments
from tests.conftest import log_in, make_user, post_form
from tests.hotline.test_booking_from_a_case import _form_url, _open_case, a_booking

ZH = load_translations("zh_Hans").gettext
SHANGHAI = ZoneInfo("Asia/Shanghai")
PARENT = ParentDetails(name="李女士", phone="138 1234 5678", topic="parenting")


async def _slots(engine: AsyncEngine, settings: Settings, expert: Expert, now: datetime | None = None):
    async with create_sessionmaker(engine)() as session:
        return await slots_for_expert(session, settings, expert, now=now)


async def _add(engine: AsyncEngine, row: object) -> None:
    async with create_sessionmaker(engine)() as session:
        session.add(row)
        await session.commit()


def _local_day(start: datetime) -> date:
    return start.astimezone(SHANGHAI).date()


async def _hold(engine, cipher, settings, expert, start, now=None, phone="138 1234 5678"):
    async with create_sessionmaker(engine)() as session:
        return await hold_slot(
            session, cipher, settings, expert_id=expert.id or 0, starts_at=start, mode="phone",
            details=ParentDetails("李女士", phone), locale="zh_Hans", now=now,
        )  # fmt: skip


# ---- exceptions and holidays ---------------------------------------------------------------------------


async def test_a_coordinator_marks_a_day_off_and_the_day_has_no_slots_nor_holds(
    client, engine, settings, cipher: FieldCipher
):
    await log_in(client, engine, Role.COORDINATOR)
    expert = await add_expert(engine)
    before = await _slots(engine, settings, expert)
    away = _local_day(before[0]) + timedelta(days=2)
    on_that_day = [s for s in before if _local_day(s) == away]
    assert on_that_day

    page = await client.get(f"/roster/experts/{expert.id}/availability")
    assert page.status_code == 200 and ZH("Days off, hours away and extra hours") in page.text
    added = await post_form(
        client,
        f"/roster/experts/{expert.id}/availability/exceptions",
        {"kind": "off", "first_day": away.isoformat(), "last_day": away.isoformat()},
        follow_redirects=False,
    )
    assert added.status_code == 303

    after = await _slots(engine, settings, expert)
    assert not [s for s in after if _local_day(s) == away]
    assert [s for s in after if _local_day(s) != away] == [s for s in before if _local_day(s) != away]
    with pytest.raises(SlotUnavailable) as refused:
        await _hold(engine, cipher, settings, expert, on_that_day[0])
    assert refused.value.reason == "not_open" and refused.value.next_free
    api = await client.post(
        "/api/bookings",
        json={"expert_id": expert.id, "starts_at": iso_utc(on_that_day[0]), "mode": "phone", "name": "李女士",
              "phone": "13812345678"},
        headers={"accept-language": "zh-CN"},
    )  # fmt: skip
    assert api.status_code == 409
    assert api.json()["detail"] == ZH(SlotUnavailable.REASONS["not_open"])
    assert await appointments(engine) == []

    page = await client.get(f"/roster/experts/{expert.id}/availability")
    exception_id = page.text.split("/availability/exceptions/")[1].split("/")[0]
    removed = await post_form(
        client, f"/roster/experts/{expert.id}/availability/exceptions/{exception_id}/remove", {},
        follow_redirects=False,
    )  # fmt: skip
    assert removed.status_code == 303
    assert await _slots(engine, settings, expert) == before


async def test_extra_hours_and_hours_away_through_the_page(client, engine, settings):
    await log_in(client, engine, Role.COORDINATOR)
    expert = await add_expert(engine)
    day = _local_day(utcnow()) + timedelta(days=3)
    url = f"/roster/experts/{expert.id}/availability/exceptions"
    await post_form(client, url, {"kind": "off", "first_day": day.isoformat(), "start_local": "08:00",
                                  "end_local": "12:00"})  # fmt: skip
    await post_form(client, url, {"kind": "extra", "first_day": day.isoformat(), "start_local": "20:00",
                                  "end_local": "22:00"})  # fmt: skip
    local = [
        s.astimezone(SHANGHAI).time() for s in await _slots(engine, settings, expert) if _local_day(s) == day
    ]
    assert local and min(local) >= time(12) and time(20) in local and max(local) >= time(21)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": "off", "first_day": "2026-13-01"}, "first_day"),
        ({"kind": "off", "first_day": "2099-05-02", "last_day": "2099-05-01"}, "first_day"),
        ({"kind": "off", "first_day": "2001-05-02"}, "first_day"),
        ({"kind": "extra", "first_day": "2099-05-02"}, "hours"),
        ({"kind": "off", "first_day": "2099-05-02", "start_local": "12:00", "end_local": "09:00"}, "hours"),
        ({"kind": "holiday", "first_day": "2099-05-02"}, "kind"),
    ],
)
async def test_a_wrong_exception_is_refused_with_its_reason_and_nothing_saved(client, engine, fields, field):
    await log_in(client, engine, Role.COORDINATOR)
    expert = await add_expert(engine)
    response = await post_form(client, f"/roster/experts/{expert.id}/availability/exceptions", fields)
    assert response.status_code == 400
    assert ZH("Please correct the marked fields.") in response.text
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM availability_exception"))).scalar_one() == 0


async def test_exceptions_need_the_csrf_token_a_coordinator_and_the_experts_unit(client, engine):
    expert = await add_expert(engine)
    url = f"/roster/experts/{expert.id}/availability/exceptions"
    await log_in(client, engine, Role.OPERATOR)
    assert (await client.get(f"/roster/experts/{expert.id}/availability")).status_code == 403
    assert (await post_form(client, url, {"kind": "off", "first_day": "2099-01-05"})).status_code == 403
    async with create_sessionmaker(engine)() as session:
        sibling = await create_unit(
            session,
            name="上城区",
            kind=UnitKind.WOMENS_FEDERATION,
            region_code="330102",
            parent_id=DEFAULT_UNIT_ID,
        )
        await session.commit()
    await log_in(client, engine, Role.COORDINATOR, unit_id=sibling.id or 0)
    assert (await client.get(f"/roster/experts/{expert.id}/availability")).status_code == 404
    assert (await post_form(client, url, {"kind": "off", "first_day": "2099-01-05"})).status_code == 404
    await log_in(client, engine, Role.COORDINATOR)
    no_token = await client.post(url, data={"kind": "off", "first_day": "2099-01-05"})
    assert no_token.status_code == 403
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM availability_exception"))).scalar_one() == 0


async def test_a_holiday_has_no_slots_and_a_make_up_saturday_has_the_replaced_weekdays(engine, settings):
    expert = await add_expert(engine)  # 08:00–20:00 every day
    async with engine.begin() as conn:  # Wednesdays 18:00–20:00 only, weekdays 09:00–12:00, no weekends
        await conn.execute(text("DELETE FROM availability_rule WHERE expert_id = :e"), {"e": expert.id})
    async with create_sessionmaker(engine)() as session:
        from booking.models import AvailabilityRule

        for weekday in range(5):
            session.add(
                AvailabilityRule(
                    expert_id=expert.id or 0, weekday=weekday, start_local=time(9), end_local=time(12)
                )
            )
        session.add(
            AvailabilityRule(expert_id=expert.id or 0, weekday=2, start_local=time(18), end_local=time(20))
        )
        await session.commit()
    now = datetime(2026, 9, 25, tzinfo=UTC)
    by_day: dict[date, list[time]] = {}
    for s in await _slots(engine, settings, expert, now):
        by_day.setdefault(_local_day(s), []).append(s.astimezone(SHANGHAI).time())
    assert not set(by_day) & {date(2026, 10, d) for d in range(1, 8)}
    assert by_day[date(2026, 10, 10)] == by_day[date(2026, 10, 14)]  # Saturday works Wednesday's hours
    assert time(18) in by_day[date(2026, 10, 10)]
    assert date(2026, 9, 20) not in by_day and date(2026, 10, 11) not in by_day

    # A site that does not follow holidays keeps the weekly hours on 1 October and no make-up Saturday.
    await _add(engine, BookingRules(site_id=expert.site_id, follows_holidays=False))
    days = {_local_day(s) for s in await _slots(engine, settings, expert, now)}
    assert date(2026, 10, 1) in days and date(2026, 10, 10) not in days


# ---- rules -------------------------------------------------------------------------------------------


async def test_an_experts_minimum_notice_holds_for_the_api_with_a_translated_reason(client, engine, settings):
    await log_in(client, engine, Role.COORDINATOR)
    expert = await add_expert(engine)
    soon = (await _slots(engine, settings, expert))[0]
    saved = await post_form(
        client, f"/roster/experts/{expert.id}/availability/rules",
        {"scope": "expert", "min_notice_hours": "48"}, follow_redirects=False,
    )  # fmt: skip
    assert saved.status_code == 303
    page = (await client.get(f"/roster/experts/{expert.id}/availability")).text
    assert 'name="min_notice_hours" min="0" max="720" value="48"' in page
    offered = (await client.get(f"/api/experts/{expert.id}/slots")).json()["slots"]
    assert iso_utc(soon) not in offered
    assert datetime.fromisoformat(offered[0]) >= utcnow() + timedelta(hours=48)
    api = await client.post(
        "/api/bookings",
        json={"expert_id": expert.id, "starts_at": iso_utc(soon), "mode": "phone", "name": "李女士",
              "phone": "13812345678"},
        headers={"accept-language": "zh-CN"},
    )  # fmt: skip
    assert api.status_code == 409
    assert api.json()["detail"] == ZH(SlotUnavailable.REASONS["too_soon"])
    assert api.json()["next_free"][0] == offered[0]


async def test_a_wrong_rule_is_refused_and_nothing_saved(client, engine):
    await log_in(client, engine, Role.COORDINATOR)
    expert = await add_expert(engine)
    response = await post_form(
        client, f"/roster/experts/{expert.id}/availability/rules", {"scope": "site", "daily_cap": "0"}
    )
    assert response.status_code == 400
    assert ZH("Enter a whole number within the range shown, or leave it empty.") in response.text
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM booking_rules"))).scalar_one() == 0


async def test_the_sites_daily_cap_stops_an_operator_booking_from_a_case(client, engine, settings):
    await log_in(client, engine, Role.OPERATOR)
    number = await _open_case(client)
    expert = await add_expert(engine)
    await _add(engine, BookingRules(site_id=expert.site_id, daily_cap=1))
    slots = await _slots(engine, settings, expert)
    first = slots[3]
    same_day = next(s for s in slots if _local_day(s) == _local_day(first) and s > first)
    booked = await post_form(client, _form_url(number, expert), a_booking(first), follow_redirects=False)
    assert booked.status_code == 303
    refused = await post_form(client, _form_url(number, expert), a_booking(same_day))
    assert refused.status_code == 409
    assert ZH(SlotUnavailable.REASONS["day_full"]) in refused.text
    assert len(await appointments(engine)) == 1
    assert not [s for s in await _slots(engine, settings, expert) if _local_day(s) == _local_day(first)]


async def test_slots_are_released_on_schedule_and_the_window_is_the_sites(engine, settings, cipher):
    expert = await add_expert(engine)
    await _add(
        engine,
        BookingRules(site_id=expert.site_id, release_days_before=3, release_at=time(8), window_days=10),
    )
    now = datetime(2026, 12, 1, 0, 30, tzinfo=UTC)  # 08:30 local on Tuesday 1 December
    days = sorted({_local_day(s) for s in await _slots(engine, settings, expert, now)})
    assert days[-1] == date(2026, 12, 4)
    friday_nine = datetime(2026, 12, 5, 1, tzinfo=UTC)  # Saturday 09:00 local: not released yet
    with pytest.raises(SlotUnavailable) as refused:
        await _hold(engine, cipher, settings, expert, friday_nine, now=now)
    assert refused.value.reason == "not_released"
    await _add(engine, BookingRules(expert_id=expert.id, release_days_before=None, window_days=2))
    days = sorted({_local_day(s) for s in await _slots(engine, settings, expert, now)})
    assert days[-1] == date(2026, 12, 3)  # the expert's window overrides; the release schedule is inherited


def test_the_cutoff_is_the_earlier_of_hours_before_and_the_working_day_before(settings):
    rules = resolve(settings, BookingRules(cutoff_day_before_at=time(18), cutoff_hours=2), None)
    # Thursday 8 October 2026 follows the National Day week: the working day before is Wednesday 30 Sept.
    start = datetime(2026, 10, 8, 1, tzinfo=UTC)
    assert change_deadline(rules, start, "Asia/Shanghai") == datetime(2026, 9, 30, 10, tzinfo=UTC)
    # Monday 12 October: the working day before is the make-up Saturday 10 October.
    monday = datetime(2026, 10, 12, 1, tzinfo=UTC)
    assert change_deadline(rules, monday, "Asia/Shanghai") == datetime(2026, 10, 10, 10, tzinfo=UTC)
    assert change_allowed(rules, monday, datetime(2026, 10, 10, 9, 59, tzinfo=UTC), "Asia/Shanghai")
    assert not change_allowed(rules, monday, datetime(2026, 10, 10, 10, tzinfo=UTC), "Asia/Shanghai")
    only_hours = resolve(settings, BookingRules(cutoff_hours=24), None)
    assert change_deadline(only_hours, monday, "Asia/Shanghai") == monday - timedelta(hours=24)
    none = resolve(settings, None, None)
    assert change_deadline(none, monday, "Asia/Shanghai") == monday


async def test_a_parent_cannot_cancel_after_the_cutoff_and_is_told_until_when(engine, settings, cipher):
    expert = await add_expert(engine)
    await _add(engine, BookingRules(expert_id=expert.id, cutoff_day_before_at=time(18)))
    staff = await make_user(engine, Role.OPERATOR)
    now = datetime(2026, 10, 9, 1, tzinfo=UTC)  # Friday 9 October 09:00 local
    monday = datetime(2026, 10, 12, 1, tzinfo=UTC)
    async with create_sessionmaker(engine)() as session:
        booked = await book_for_parent(
            session, cipher, settings, expert_id=expert.id or 0, starts_at=monday, mode="phone",
            details=PARENT, locale="zh_Hans", booked_by_id=staff.id or 0, now=now,
        )  # fmt: skip
    late = datetime(2026, 10, 10, 10, 1, tzinfo=UTC)  # 18:01 on the make-up Saturday
    async with create_sessionmaker(engine)() as session:
        with pytest.raises(Conflict) as refused:
            await cancel_by_manage_token(
                session, cipher, settings, manage_token=booked.manage_token, now=late
            )
    assert refused.value.format_args == {"deadline": "2026-10-10 18:00"}
    assert [a.status for a in await appointments(engine)] == ["confirmed"]
    async with create_sessionmaker(engine)() as session:
        cancelled = await cancel_by_manage_token(
            session, cipher, settings, manage_token=booked.manage_token, now=late - timedelta(minutes=2)
        )
    assert cancelled.status == "cancelled"


async def test_the_api_cancel_answers_409_after_the_cutoff(client, engine, settings, cipher):
    expert = await add_expert(engine)
    start = (await _slots(engine, settings, expert))[0]
    staff = await make_user(engine, Role.OPERATOR)
    async with create_sessionmaker(engine)() as session:
        booked = await book_for_parent(
            session, cipher, settings, expert_id=expert.id or 0, starts_at=start, mode="phone",
            details=PARENT, locale="zh_Hans", booked_by_id=staff.id or 0,
        )  # fmt: skip
    await _add(engine, BookingRules(expert_id=expert.id, cutoff_hours=24 * 30))
    response = await client.post(f"/api/bookings/manage/{booked.manage_token}/cancel")
    assert response.status_code == 409
    assert [a.status for a in await appointments(engine)] == ["confirmed"]


# ---- holds and the roster-wide search --------------------------------------------------------------------


async def test_holds_racing_for_one_slot_under_rules_and_exceptions_still_have_one_winner(
    engine, database_url, settings, cipher
):
    expert = await add_expert(engine)
    start = (await _slots(engine, settings, expert))[2]
    await _add(engine, BookingRules(site_id=expert.site_id, daily_cap=5))
    await _add(
        engine,
        AvailabilityException(expert_id=expert.id or 0, kind="extra", first_day=_local_day(start),
                              last_day=_local_day(start), start_local=time(20), end_local=time(22)),
    )  # fmt: skip
    engines = [create_engine(database_url) for _ in range(8)]

    async def attempt(i: int) -> str:
        async with create_sessionmaker(engines[i])() as session:
            try:
                await hold_slot(
                    session, cipher, settings, expert_id=expert.id or 0, starts_at=start, mode="phone",
                    details=ParentDetails(f"家长{i}", f"1391234{i:04d}"), locale="zh_Hans",
                )  # fmt: skip
                return "won"
            except SlotTaken:
                return "lost"

    try:
        outcomes = await asyncio.gather(*(attempt(i) for i in range(8)))
    finally:
        for e in engines:
            await e.dispose()
    assert outcomes.count("won") == 1
    assert [(a.starts_at, a.status) for a in await appointments(engine)] == [(start, "held")]


async def test_the_roster_wide_search_matches_each_experts_slots_in_a_fixed_number_of_queries(
    engine, settings
):
    experts = [await add_expert(engine, name=f"专家{i}") for i in range(6)]
    away = AvailabilityException(
        expert_id=experts[1].id or 0, kind="off", first_day=date(2000, 1, 1), last_day=date(2099, 1, 1)
    )
    await _add(engine, away)
    await _add(engine, BookingRules(expert_id=experts[2].id, min_notice_minutes=60 * 24 * 9))
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE expert SET specialties = 'bullying' WHERE id = :i"), {"i": experts[5].id}
        )
    now = utcnow()
    counted: list[str] = []

    def count(*args: object) -> None:
        counted.append("q")

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        async with create_sessionmaker(engine)() as session:
            found = await soonest_by_specialty(session, settings, "parenting", now=now)
        few = len(counted)
        counted.clear()
        async with create_sessionmaker(engine)() as session:
            everyone = await free_slots_of(session, settings, experts, now=now)
        assert len(counted) <= few + 1
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    assert few <= 8
    assert [a.expert.id for a in found][-1] == experts[1].id  # no free time: last
    assert experts[5].id not in [a.expert.id for a in found]
    for answer in found:
        own = await _slots(engine, settings, answer.expert, now)
        assert answer.slots == own[:3]
        assert everyone[answer.expert.id or 0] == own
    assert found[0].slots[0] <= found[1].slots[0]


async def test_the_soonest_api_answers_per_specialty(client, engine):
    expert = await add_expert(engine)
    answer = await client.get("/api/specialties/parenting/soonest")
    assert answer.status_code == 200
    assert answer.json()[0]["expert_id"] == expert.id and len(answer.json()[0]["slots"]) == 3
    assert (await client.get("/api/specialties/nonsense/soonest")).status_code == 404
    assert (await client.get("/api/specialties/bullying/soonest")).json() == []


async def test_a_parent_picking_a_time_on_a_day_off_is_told_why_and_offered_other_times(
    client, engine, settings
):
    from tests.booking.test_booking_pages import _booking_form

    expert = await add_expert(engine)
    start = (await _slots(engine, settings, expert))[0]
    away = AvailabilityException(
        expert_id=expert.id or 0, kind="off", first_day=_local_day(start), last_day=_local_day(start)
    )
    await _add(engine, away)
    page = await post_form(
        client,
        f"/book/experts/{expert.id}/form",
        _booking_form(iso_utc(start)),
        headers={"accept-language": "zh-CN"},
    )
    assert page.status_code == 409
    assert ZH(SlotUnavailable.REASONS["not_open"]) in page.text
    assert (
        ZH("Sorry, this time has just been taken by someone else. Please choose another time.")
        not in page.text
    )
    assert await appointments(engine) == []


async def test_a_parent_cannot_move_after_the_cutoff_but_staff_can(engine, settings, cipher):
    # The same cutoff as cancelling binds a parent's own move (pages and write); staff move past it.
    from booking.reschedule import reschedule, reschedule_by_manage_token

    expert = await add_expert(engine)
    await _add(engine, BookingRules(expert_id=expert.id, cutoff_day_before_at=time(18)))
    staff = await make_user(engine, Role.COORDINATOR)
    now = datetime(2026, 10, 9, 1, tzinfo=UTC)  # Friday 9 October 09:00 local
    monday = datetime(2026, 10, 12, 1, tzinfo=UTC)
    async with create_sessionmaker(engine)() as session:
        booked = await book_for_parent(
            session, cipher, settings, expert_id=expert.id or 0, starts_at=monday, mode="phone",
            details=PARENT, locale="zh_Hans", booked_by_id=staff.id or 0, now=now,
        )  # fmt: skip
    [before] = await appointments(engine)
    late = datetime(2026, 10, 10, 10, 1, tzinfo=UTC)  # 18:01 on the make-up Saturday
    later = monday + timedelta(hours=2)
    async with create_sessionmaker(engine)() as session:
        with pytest.raises(Conflict) as refused:
            await reschedule_by_manage_token(
                session, cipher, settings, manage_token=booked.manage_token, starts_at=later, now=late
            )
    assert refused.value.format_args == {"deadline": "2026-10-10 18:00"}
    [kept] = await appointments(engine)
    assert (kept.starts_at, kept.sequence) == (monday, before.sequence)  # nothing moved
    async with create_sessionmaker(engine)() as session:
        moved = await reschedule(
            session, cipher, settings, appointment_id=kept.id or 0, starts_at=later, moved_by=staff, now=late
        )
    assert moved.appointment.starts_at == later
