"""Staff limited to one hotline line (StaffUser.line): a 12355 operator and a family-education supervisor
of the same unit each list, read, act on, count and are alerted about their own line's cases only; a
supervisor of every line sees both. Administrators set the line in the staff form and the CLI."""

from __future__ import annotations

from datetime import timedelta

from litestar.testing import AsyncTestClient
from sqlmodel import col, select

from core.accounts import Role, StaffUser
from core.db import create_sessionmaker, utcnow
from core.privacy import FieldCipher
from core.units import DEFAULT_UNIT_ID
from hotline.alerts import supervisors_over
from hotline.casework_models import StaffAlert
from hotline.task_work import count_my_open_tasks, my_open_tasks
from tests.conftest import TEST_PASSWORD, log_in, make_user, post_form, post_json
from tests.hotline.calls import a_call, hotline_rows
from tests.hotline.casework_rows import a_case, a_task
from tests.test_cli import _cli

HOUR = timedelta(hours=1)


async def _limited(engine, role: Role, line: str | None, username: str) -> StaffUser:
    user = await make_user(engine, role, username)
    async with create_sessionmaker(engine)() as session:
        row = await session.get(StaffUser, user.id)
        assert row is not None
        row.line = line
        session.add(row)
        await session.commit()
        await session.refresh(row)
        return row


async def _log_in_as(client, user: StaffUser) -> None:
    landed = await post_form(
        client, "/login", {"username": user.username, "password": TEST_PASSWORD}, follow_redirects=False
    )
    assert landed.status_code == 303, landed.text


async def _world(engine, settings):
    """One unit running both lines: a case of each, opened by an operator of every line, with a late task
    on each owned by the 12355-only operator (given before their account was limited to the line)."""
    cipher = FieldCipher(settings.data_key)
    opener = await make_user(engine, Role.OPERATOR, "opener")
    youth = await _limited(engine, Role.OPERATOR, "12355", "youth-op")
    family_sup = await _limited(engine, Role.SUPERVISOR, "family_edu", "family-sup")
    youth_case, youth_number = await a_case(engine, cipher, opener, line="12355")
    family_case, family_number = await a_case(engine, cipher, opener, line="family_edu")
    youth_task = await a_task(engine, youth_case, due_in=-2 * HOUR, owner_id=youth.id)
    family_task = await a_task(engine, family_case, due_in=-3 * HOUR, owner_id=youth.id)
    return {
        "youth_task": youth_task,
        "family_task": family_task,
        "opener": opener,
        "youth": youth,
        "family_sup": family_sup,
        "youth_number": youth_number,
        "family_number": family_number,
    }


async def test_a_line_limited_operator_lists_reads_and_acts_on_their_line_only(client, engine, settings):
    world = await _world(engine, settings)
    await _log_in_as(client, world["youth"])
    mine, other = world["youth_number"], world["family_number"]

    listed = (await client.get("/api/cases")).json()
    assert [row["number"] for row in listed["rows"]] == [mine]
    page = (await client.get("/hotline/cases")).text
    assert mine in page and other not in page
    assert (await client.get(f"/hotline/cases/{mine}")).status_code == 200
    assert (await client.get(f"/api/cases/{mine}")).status_code == 200
    assert (await client.get(f"/hotline/cases/{other}")).status_code == 404
    assert (await client.get(f"/api/cases/{other}")).status_code == 404
    assert (await client.get(f"/api/cases/{other}/timeline")).status_code == 404
    noted = await post_json(client, f"/api/cases/{other}/notes", {"text": "不该写入"})
    assert noted.status_code == 404
    assert (await post_json(client, f"/api/cases/{mine}/notes", {"text": "已回访"})).status_code == 201

    # "My tasks": only the task of the 12355 case is shown, and only it can be worked on.
    tasks = (await client.get("/hotline/tasks")).text
    assert mine in tasks and other not in tasks
    done = await post_form(client, f"/hotline/tasks/{world['family_task']}/complete", {"note": ""})
    assert done.status_code == 404
    done = await post_form(
        client, f"/hotline/tasks/{world['youth_task']}/complete", {"note": ""}, follow_redirects=False
    )
    assert done.status_code == 303


async def test_my_tasks_count_and_list_only_the_viewers_line(engine, settings):
    world = await _world(engine, settings)
    async with create_sessionmaker(engine)() as session:
        youth = await session.get(StaffUser, world["youth"].id)
        assert youth is not None
        rows = await my_open_tasks(session, viewer=youth, now=utcnow(), amber=4 * HOUR)
        assert [row.case_number for row in rows] == [world["youth_number"]]
        assert await count_my_open_tasks(session, youth) == 1
        youth.line = None  # every line again: both tasks
        assert await count_my_open_tasks(session, youth) == 2


async def test_the_board_counts_only_the_supervisors_line(client, engine, settings):
    world = await _world(engine, settings)
    await _log_in_as(client, world["family_sup"])

    board = (await client.get("/api/supervision")).json()
    assert board["totals"]["red"] == 1
    assert [row["key"] for row in board["by_line"]] == ["family_edu"]
    assert {item["case_number"] for item in board["items"]} == {world["family_number"]}
    assert world["youth_number"] not in (await client.get("/hotline/supervision")).text
    assert (await client.get(f"/hotline/cases/{world['youth_number']}")).status_code == 404
    assert (await client.get(f"/hotline/cases/{world['family_number']}")).status_code == 200


async def test_a_supervisor_of_every_line_sees_both(client, engine, settings):
    world = await _world(engine, settings)
    await log_in(client, engine, Role.SUPERVISOR)

    board = (await client.get("/api/supervision")).json()
    assert board["totals"]["red"] == 2
    assert {row["key"] for row in board["by_line"]} == {"12355", "family_edu"}
    listed = (await client.get("/api/cases")).json()
    assert {row["number"] for row in listed["rows"]} == {world["youth_number"], world["family_number"]}


async def test_a_case_cannot_be_given_to_someone_of_the_other_line(client, engine, settings):
    world = await _world(engine, settings)
    await log_in(client, engine, Role.SUPERVISOR)

    refused = await post_json(
        client, f"/api/cases/{world['youth_number']}/owner", {"owner_id": world["family_sup"].id}
    )
    assert refused.status_code == 400
    page = (await client.get(f"/hotline/cases/{world['youth_number']}")).text
    assert f'value="{world["family_sup"].id}"' not in page
    moved = await post_json(
        client, f"/api/cases/{world['family_number']}/owner", {"owner_id": world["family_sup"].id}
    )
    assert moved.status_code == 200


async def test_alerts_go_only_to_supervisors_who_can_see_the_line(client, engine, settings):
    family_sup = await _limited(engine, Role.SUPERVISOR, "family_edu", "family-sup")
    youth_sup = await _limited(engine, Role.SUPERVISOR, "12355", "youth-sup")
    every_line = await make_user(engine, Role.SUPERVISOR, "every-sup")
    async with create_sessionmaker(engine)() as session:
        over = {user.id for user in await supervisors_over(session, DEFAULT_UNIT_ID, "12355")}
        assert over == {youth_sup.id, every_line.id}
        assert {user.id for user in await supervisors_over(session, DEFAULT_UNIT_ID)} == {
            family_sup.id,
            youth_sup.id,
            every_line.id,
        }

    # A 12355 violence call opens a mandatory report: its alert reaches the 12355 and all-lines supervisors.
    await log_in(client, engine, Role.OPERATOR)
    logged = await post_json(client, "/api/calls", a_call(category="violence", urgency="urgent"))
    assert logged.status_code == 201, logged.text
    async with create_sessionmaker(engine)() as session:
        recipients = set((await session.exec(select(col(StaffAlert.recipient_id)))).all())
    assert recipients == {youth_sup.id, every_line.id}
    # Nor does the pending report count on the family-education supervisor's board.
    client.cookies.clear()
    await _log_in_as(client, family_sup)
    board = (await client.get("/api/supervision")).json()
    assert (board["reports_pending"], board["reports"]) == (0, [])
    client.cookies.clear()
    await _log_in_as(client, youth_sup)
    assert (await client.get("/api/supervision")).json()["reports_pending"] == 1


async def test_a_line_limited_operator_logs_calls_on_their_line_only(client, engine, settings):
    world = await _world(engine, settings)
    await _log_in_as(client, world["youth"])
    before = await hotline_rows(engine)

    other_line = await post_form(client, "/hotline/calls/new", a_call(line="family_edu"))
    assert other_line.status_code == 400 and "您只负责一条热线的来电" in other_line.text
    into_other = await post_json(client, "/api/calls", a_call(case_number=world["family_number"]))
    assert into_other.status_code == 400 and into_other.json()["errors"]["case_number"]
    assert await hotline_rows(engine) == before

    own = await post_json(client, "/api/calls", a_call(case_number=world["youth_number"]))
    assert own.status_code == 201, own.text


async def test_an_admin_sets_the_line_in_the_form(app, engine):
    async with AsyncTestClient(app=app) as admin:
        await log_in(admin, engine, Role.ADMIN)
        page = await post_form(
            admin,
            "/admin/users/",
            {"username": "fe-op", "role": "operator", "unit_id": str(DEFAULT_UNIT_ID), "line": "family_edu"},
        )
        assert page.status_code == 200 and 'data-line="family_edu"' in page.text
        unknown = await post_form(
            admin, "/admin/users/", {"username": "x-op", "role": "operator", "unit_id": "1", "line": "110"}
        )
        assert unknown.status_code == 400 and "请从列表中选择热线" in unknown.text
        async with create_sessionmaker(engine)() as session:
            user = (await session.exec(select(StaffUser).where(StaffUser.username == "fe-op"))).one()
            assert user.line == "family_edu"
            assert (await session.exec(select(StaffUser).where(StaffUser.username == "x-op"))).first() is None
        form = (await admin.get(f"/admin/users/{user.id}")).text
        assert '<option value="family_edu" selected' in form

        edit = {"username": "fe-op", "display_name": "FE", "role": "operator", "unit_id": "1"}
        bad = await post_form(admin, f"/admin/users/{user.id}", {**edit, "line": "nope"})
        assert bad.status_code == 400
        saved = await post_form(
            admin, f"/admin/users/{user.id}", {**edit, "line": ""}, follow_redirects=False
        )
        assert saved.status_code == 303
        async with create_sessionmaker(engine)() as session:
            row = await session.get(StaffUser, user.id)
            assert row is not None and row.line is None


async def test_the_cli_adds_a_line_limited_account(database_url, tmp_path, engine):
    assert _cli(["db", "upgrade"], database_url, tmp_path).returncode == 0
    added = _cli(
        ["users", "add", "li.fe", "--role", "operator", "--line", "12355", "--password", "a long password"],
        database_url,
        tmp_path,
    )
    assert added.returncode == 0, added.stderr
    refused = _cli(
        ["users", "add", "li.x", "--role", "operator", "--line", "110", "--password", "a long password"],
        database_url,
        tmp_path,
    )
    assert refused.returncode != 0 and "invalid choice" in refused.stderr
    async with create_sessionmaker(engine)() as session:
        user = (await session.exec(select(StaffUser).where(StaffUser.username == "li.fe"))).one()
        assert user.line == "12355"
