"""Who carries a case: supervisors reassign within their scope and the open tasks follow; anyone on the
hotline takes a case nobody owns; "my cases" is the operator's list of open cases."""

from __future__ import annotations

from sqlalchemy import text

from core.accounts import Role
from core.db import create_sessionmaker
from core.units import UnitKind, create_unit
from tests.conftest import log_in, make_user, post_form, post_json
from tests.hotline.calls import a_call
from tests.hotline.casework import add_open_task, audits, case_row, events, tasks


async def _case(client) -> str:
    return (await post_json(client, "/api/calls", a_call())).json()["case_number"]


async def test_a_supervisor_reassigns_and_the_previous_owners_open_tasks_follow(client, engine):
    supervisor = await log_in(client, engine, Role.SUPERVISOR)
    number = await _case(client)
    assert (await case_row(engine, number)).owner_id == supervisor.id  # whoever opens a case owns it
    colleague = await make_user(engine, Role.OPERATOR, "li-operator")
    theirs = await add_open_task(engine, number, owner_id=supervisor.id)
    someone_elses = await add_open_task(engine, number, owner_id=colleague.id)
    done = await add_open_task(engine, number, owner_id=supervisor.id)
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE case_task SET status = 'done' WHERE id = :i"), {"i": done})

    page = await client.get(f"/hotline/cases/{number}")
    assert f'<option value="{colleague.id}"' in page.text
    moved = await post_form(client, f"/hotline/cases/{number}/owner", {"owner_id": colleague.id})
    assert moved.status_code == 200 and "个案已转交新的负责人" in moved.text

    assert (await case_row(engine, number)).owner_id == colleague.id
    owners = {task.id: (task.owner_id, task.status) for task in await tasks(engine, number)}
    assert owners == {
        theirs: (colleague.id, "open"),
        someone_elses: (colleague.id, "open"),
        done: (supervisor.id, "done"),  # a finished task stays with whoever did it
    }
    [event] = await events(engine, number, "owner")
    assert (event.actor_id, event.detail) == (
        supervisor.id,
        {"from": supervisor.id, "to": colleague.id, "tasks_moved": 1},
    )
    assert len(await audits(engine, "case.owner", number)) == 1
    timeline = (await client.get(f"/api/cases/{number}/timeline")).json()
    assert "负责人：Test supervisor → Test operator" in [entry["what"] for entry in timeline]

    same = await post_json(client, f"/api/cases/{number}/owner", {"owner_id": colleague.id})
    assert same.status_code == 400


async def test_reassignment_is_only_to_active_case_staff_who_can_see_the_case(client, engine):
    async with create_sessionmaker(engine)() as session:
        west = await create_unit(session, name="西湖", kind=UnitKind.OTHER, region_code="330106", parent_id=1)
        east = await create_unit(session, name="上城", kind=UnitKind.OTHER, region_code="330102", parent_id=1)
        await session.commit()
    city_operator = await make_user(engine, Role.OPERATOR)
    east_operator = await make_user(engine, Role.OPERATOR, unit_id=east.id or 0)
    west_operator = await make_user(engine, Role.OPERATOR, unit_id=west.id or 0)
    coordinator = await make_user(engine, Role.COORDINATOR, unit_id=west.id or 0)
    gone = await make_user(engine, Role.OPERATOR, unit_id=west.id or 0)
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE staff_user SET is_active = false WHERE id = :i"), {"i": gone.id})

    await log_in(client, engine, Role.SUPERVISOR, unit_id=west.id or 0)
    number = await _case(client)
    before = await case_row(engine, number)
    page = await client.get(f"/hotline/cases/{number}")
    assert f'<option value="{west_operator.id}"' in page.text
    for outsider in (city_operator, east_operator, coordinator, gone):
        assert f'<option value="{outsider.id}"' not in page.text

    for owner_id, status in (
        (east_operator.id, 404),  # beside the supervisor's scope: not found
        (city_operator.id, 404),  # above it
        (2**40, 404),
        (coordinator.id, 400),
        (gone.id, 400),
        (None, 400),
    ):
        refused = await post_json(client, f"/api/cases/{number}/owner", {"owner_id": owner_id})
        assert refused.status_code == status, owner_id
    assert await case_row(engine, number) == before

    # An operator may not reassign at all.
    await log_in(client, engine, Role.OPERATOR, unit_id=west.id or 0)
    forbidden = await post_json(client, f"/api/cases/{number}/owner", {"owner_id": west_operator.id})
    assert forbidden.status_code == 403
    assert await case_row(engine, number) == before


async def test_a_case_with_no_owner_can_be_taken_once(client, engine):
    await log_in(client, engine, Role.OPERATOR)
    number = await _case(client)
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE referral_case SET owner_id = NULL"))
    await add_open_task(engine, number, owner_id=None)

    unowned = await client.get("/api/cases", params={"owner": "none"})
    assert [row["number"] for row in unowned.json()["rows"]] == [number]
    taker = await log_in(client, engine, Role.OPERATOR)
    page = await client.get(f"/hotline/cases/{number}")
    assert f'action="/hotline/cases/{number}/take"' in page.text
    taken = await post_form(client, f"/hotline/cases/{number}/take", {})
    assert taken.status_code == 200 and "您现在是这个个案的负责人" in taken.text
    assert (await case_row(engine, number)).owner_id == taker.id
    assert [task.owner_id for task in await tasks(engine, number)] == [taker.id]
    assert [e.detail for e in await events(engine, number, "owner")] == [
        {"from": None, "to": taker.id, "tasks_moved": 1}
    ]

    await log_in(client, engine, Role.OPERATOR)
    again = await post_json(client, f"/api/cases/{number}/take", {})
    assert again.status_code == 400
    assert (await case_row(engine, number)).owner_id == taker.id


async def test_my_cases_are_the_open_cases_i_own_and_the_operators_first_link(client, engine):
    me = await log_in(client, engine, Role.OPERATOR)
    mine_open = await _case(client)
    mine_closed = await _case(client)
    closure = {"outcome": "advice_given", "summary": "已给出建议"}
    assert (await post_json(client, f"/api/cases/{mine_closed}/close", closure)).status_code == 200
    await log_in(client, engine, Role.OPERATOR)
    await _case(client)  # someone else's

    await post_form(client, "/login", {"username": me.username, "password": "correct horse battery"})
    mine = await client.get("/hotline/cases", params={"owner": "me"})
    assert mine.status_code == 200
    assert 'href="/hotline/cases?owner=me"' in mine.text  # the navigation's first case link
    assert "<h1>我的个案</h1>" in mine.text
    assert mine_open in mine.text and mine_closed not in mine.text
    listed = (await client.get("/api/cases", params={"owner": "me"})).json()
    assert [row["number"] for row in listed["rows"]] == [mine_open]
    assert listed["filters"]["status"] == "open"
    assert listed["rows"][0]["owner"]["id"] == me.id
    every = (await client.get("/api/cases", params={"owner": "me", "status": ""})).json()
    assert {row["number"] for row in every["rows"]} == {mine_open, mine_closed}
    by_id = (await client.get("/api/cases", params={"owner": str(me.id), "status": "closed"})).json()
    assert [row["number"] for row in by_id["rows"]] == [mine_closed]
