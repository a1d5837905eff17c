"""The move pages: the parent's manage link, the coordinator's overview and the case page, each ending
in booking's one reschedule transaction."""

from __future__ import annotations

from urllib.parse import quote

from litestar.testing import AsyncTestClient
from sqlalchemy import text

from booking.slot_times import iso_utc
from core.accounts import Role
from core.db import create_sessionmaker
from tests.booking.conftest import add_expert, appointments, outbox_rows, sms_body
from tests.booking.test_reschedule import book, free_slots
from tests.conftest import log_in, make_user, post_form, post_json
from tests.hotline.calls import a_call


async def test_a_parent_moves_their_booking_from_the_manage_link(client, engine, settings, cipher):
    coordinator = await make_user(engine, Role.COORDINATOR)
    expert = await add_expert(engine)
    slots = await free_slots(engine, settings, expert)
    booked = await book(engine, cipher, settings, expert, slots[2], coordinator)
    manage = f"/book/manage/{booked.manage_token}"

    page = await client.get(manage)
    assert f"{manage}/reschedule" in page.text
    choices = await client.get(f"{manage}/reschedule")
    assert choices.status_code == 200 and choices.headers["cache-control"] == "no-store"
    target = iso_utc(slots[6])
    assert quote(target, safe="") in choices.text
    confirm = await client.get(f"{manage}/reschedule/confirm?starts_at={quote(target)}")
    assert confirm.status_code == 200 and target in confirm.text
    done = await post_form(client, f"{manage}/reschedule/confirm", {"starts_at": target})
    assert done.status_code == 200 and str(done.url).endswith(f"{manage}?moved=1")

    [row] = await appointments(engine)
    assert row.starts_at == slots[6] and row.status == "confirmed"
    [sms] = await outbox_rows(engine, "booking_rescheduled")
    assert manage in sms_body(cipher, sms)
    # Bad input is a 400 with a message; nothing moves.
    bad = await post_form(client, f"{manage}/reschedule/confirm", {"starts_at": "tomorrow"})
    assert bad.status_code == 400
    assert (await client.get("/book/manage/not-a-token/reschedule")).status_code == 404


async def test_a_parent_who_picks_a_time_taken_meanwhile_keeps_theirs_and_sees_other_times(
    client, engine, settings, cipher
):
    coordinator = await make_user(engine, Role.COORDINATOR)
    expert = await add_expert(engine)
    slots = await free_slots(engine, settings, expert)
    mine = await book(engine, cipher, settings, expert, slots[0], coordinator)
    await book(engine, cipher, settings, expert, slots[3], coordinator, phone="13912345678")
    taken = await post_form(
        client, f"/book/manage/{mine.manage_token}/reschedule/confirm", {"starts_at": iso_utc(slots[3])}
    )
    assert taken.status_code == 409
    assert quote(iso_utc(slots[1]), safe="") in taken.text  # other free times offered at once
    assert sorted(a.starts_at for a in await appointments(engine)) == [slots[0], slots[3]]
    assert await outbox_rows(engine, "booking_rescheduled") == []


async def test_a_coordinator_moves_a_booking_from_the_overview(app, engine, settings, cipher):
    expert = await add_expert(engine)
    slots = await free_slots(engine, settings, expert)
    async with AsyncTestClient(app=app) as browser:
        coordinator = await log_in(browser, engine, Role.COORDINATOR)
        booked = await book(engine, cipher, settings, expert, slots[1], coordinator)
        appointment_id = booked.appointment.id
        page = await browser.get(f"/roster/appointments/{appointment_id}/reschedule")
        assert page.status_code == 200
        moved = await post_form(
            browser,
            f"/roster/appointments/{appointment_id}/reschedule/confirm",
            {"starts_at": iso_utc(slots[8])},
        )
        assert moved.status_code == 200 and f"moved={appointment_id}" in str(moved.url)
        assert f'data-appointment="{appointment_id}"' in moved.text
    async with AsyncTestClient(app=app) as other:
        await log_in(other, engine, Role.EXPERT)  # not a coordinator: no moving
        refused = await post_form(
            other,
            f"/roster/appointments/{appointment_id}/reschedule/confirm",
            {"starts_at": iso_utc(slots[9])},
        )
        assert refused.status_code == 403
    [row] = await appointments(engine)
    assert row.starts_at == slots[8]


async def test_an_operator_moves_a_case_booking_and_the_case_timeline_says_so(app, engine, settings, cipher):
    expert = await add_expert(engine)
    slots = await free_slots(engine, settings, expert)
    async with AsyncTestClient(app=app) as browser:
        await log_in(browser, engine, Role.OPERATOR)
        number = (await post_json(browser, "/api/calls", a_call(category="parenting"))).json()["case_number"]
        booked = await post_form(
            browser,
            f"/hotline/cases/{number}/book/experts/{expert.id}/form",
            {"starts_at": iso_utc(slots[2]), "mode": "phone", "name": "李女士", "phone": "13900002222",
             "topic": "parenting", "notes": ""},
        )  # fmt: skip
        assert booked.status_code == 200
        [row] = await appointments(engine)
        case_page = booked.text
        assert f"/hotline/cases/{number}/appointments/{row.id}/reschedule" in case_page
        moved = await post_form(
            browser,
            f"/hotline/cases/{number}/appointments/{row.id}/reschedule/confirm",
            {"starts_at": iso_utc(slots[5])},
        )
        assert moved.status_code == 200 and 'data-kind="appointment.moved"' in moved.text
        # The consultation of another case (or none) is not found through this case.
        other = (await post_json(browser, "/api/calls", a_call(category="parenting"))).json()["case_number"]
        assert (
            await browser.get(f"/hotline/cases/{other}/appointments/{row.id}/reschedule")
        ).status_code == 404
    [row] = await appointments(engine)
    assert row.starts_at == slots[5]
    async with create_sessionmaker(engine)() as session:
        kinds = (
            await session.exec(text("SELECT kind FROM case_event WHERE kind = 'appointment.moved'"))
        ).all()  # type: ignore[call-overload]
    assert len(kinds) == 1
    assert len(await outbox_rows(engine, "booking_rescheduled")) == 1
