"""Follow-up tasks (回访): "my tasks" as an operator's home, completing (a satisfaction follow-up needs
the caller's answer), adding by hand, cancelling, the case page's task section, scope, and the task
state machine under any sequence of acts."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import text

from core.accounts import Role
from core.db import create_engine, create_sessionmaker, utcnow
from core.errors import Conflict, FormInvalid
from core.privacy import FieldCipher
from core.units import UnitKind, create_unit
from hotline.case_terms import TASK_TRANSITIONS, TaskKind, TaskStatus
from hotline.task_work import TASK_NOTE_CONTEXT, cancel_task, complete_task
from tests.conftest import log_in, make_user, post_form
from tests.hotline.calls import count_rows
from tests.hotline.casework_rows import LIGHT, a_case, a_task, task_row

HOUR = timedelta(hours=1)
# A due time as the form's datetime-local field sends it, in the site's zone: 09:30 a month from now.
DUE_DAY = (datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(days=30)).date()
DUE = f"{DUE_DAY.isoformat()}T09:30"


async def _close(engine, case_id: int) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE referral_case SET status = 'closed' WHERE id = :i"), {"i": case_id})


async def _events(engine, kind: str) -> list[tuple[int, str, str | None]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT case_id, detail, text_ciphertext FROM case_event WHERE kind = :k ORDER BY id"),
            {"k": kind},
        )
        return [tuple(row) for row in rows.all()]


async def test_an_operator_lands_on_my_tasks_most_overdue_first_with_their_lights(client, engine, settings):
    operator = await log_in(client, engine, Role.OPERATOR)
    colleague = await make_user(engine, Role.OPERATOR)
    cipher = FieldCipher(settings.data_key)
    case_id, number = await a_case(engine, cipher, operator)
    green = await a_task(engine, case_id, due_in=72 * HOUR, owner_id=operator.id, title="Later")
    red = await a_task(engine, case_id, due_in=-2 * HOUR, owner_id=operator.id, title="Late")
    amber = await a_task(engine, case_id, due_in=3 * HOUR, owner_id=operator.id, title="Soon")
    await a_task(engine, case_id, due_in=-5 * HOUR, owner_id=colleague.id, title="Not mine")

    await post_form(client, "/logout", {})
    home = await post_form(
        client,
        "/login",
        {"username": operator.username, "password": "correct horse battery"},
        follow_redirects=False,
    )
    assert home.headers["location"] == "/hotline/tasks"

    page = await client.get("/hotline/tasks")
    assert page.status_code == 200
    order = [int(task_id) for task_id in re.findall(r'data-task="(\d+)"', page.text)]
    assert order == [red, amber, green]  # the colleague's task is not on this page
    assert LIGHT.findall(page.text) == ["red", "amber", "green"]
    assert f'href="/hotline/cases/{number}"' in page.text
    assert 'href="/hotline/cases?owner=me"' in page.text

    api = await client.get("/api/tasks")
    assert [(row["id"], row["light"]) for row in api.json()] == [
        (red, "red"),
        (amber, "amber"),
        (green, "green"),
    ]


async def test_completing_a_task_records_the_note_encrypted_on_the_timeline_once(client, engine, settings):
    operator = await log_in(client, engine, Role.OPERATOR)
    cipher = FieldCipher(settings.data_key)
    case_id, _ = await a_case(engine, cipher, operator)
    task_id = await a_task(engine, case_id, due_in=HOUR, owner_id=operator.id)

    done = await post_form(
        client, f"/hotline/tasks/{task_id}/complete", {"note": "已回电，家长情绪稳定"}, follow_redirects=False
    )
    assert (done.status_code, done.headers["location"]) == (303, "/hotline/tasks")
    task = await task_row(engine, task_id)
    assert (task.status, task.done_by_id, task.result) == ("done", operator.id, None)
    assert "已回电" not in (task.note_ciphertext or "")
    assert cipher.decrypt(task.note_ciphertext or "", context=TASK_NOTE_CONTEXT) == "已回电，家长情绪稳定"
    [(event_case, detail, _)] = await _events(engine, "task.done")
    assert event_case == case_id and json.loads(detail)["task"] == task_id

    again = await post_form(client, f"/hotline/tasks/{task_id}/complete", {"note": ""})
    assert again.status_code == 409
    assert len(await _events(engine, "task.done")) == 1
    assert 'data-task="' not in (await client.get("/hotline/tasks")).text


async def test_a_satisfaction_follow_up_needs_the_callers_answer_and_works_on_a_closed_case(
    client, engine, settings
):
    operator = await log_in(client, engine, Role.OPERATOR)
    cipher = FieldCipher(settings.data_key)
    case_id, number = await a_case(engine, cipher, operator)
    satisfaction = await a_task(
        engine,
        case_id,
        due_in=7 * 24 * HOUR,
        owner_id=operator.id,
        kind=TaskKind.SATISFACTION,
        title="Satisfaction",
    )
    callback = await a_task(engine, case_id, due_in=HOUR, owner_id=operator.id)
    await _close(engine, case_id)

    missing = await post_form(client, f"/hotline/tasks/{satisfaction}/complete", {"note": "回访"})
    assert missing.status_code == 400
    assert "请选择" in missing.text or "来电人" in missing.text
    wrong = await post_form(client, f"/hotline/tasks/{satisfaction}/complete", {"result": "delighted"})
    assert wrong.status_code == 400
    assert (await task_row(engine, satisfaction)).status == "open"

    other = await post_form(client, f"/hotline/tasks/{callback}/complete", {"note": ""})
    assert other.status_code == 400  # a closed case is read-only but for its satisfaction follow-up
    assert (await task_row(engine, callback)).status == "open"

    done = await post_form(
        client,
        f"/hotline/tasks/{satisfaction}/complete",
        {"result": "mostly_satisfied", "back": "case"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"].startswith(f"/hotline/cases/{number}")
    task = await task_row(engine, satisfaction)
    assert (task.status, task.result) == ("done", "mostly_satisfied")
    [(_, detail, _)] = await _events(engine, "task.done")
    assert json.loads(detail)["result"] == "mostly_satisfied"


async def test_a_result_is_refused_on_a_task_that_is_not_a_satisfaction_follow_up(client, engine, settings):
    operator = await log_in(client, engine, Role.OPERATOR)
    case_id, _ = await a_case(engine, FieldCipher(settings.data_key), operator)
    task_id = await a_task(engine, case_id, due_in=HOUR, owner_id=operator.id)
    refused = await post_form(client, f"/hotline/tasks/{task_id}/complete", {"result": "satisfied"})
    assert refused.status_code == 400
    assert (await task_row(engine, task_id)).status == "open"


async def test_the_case_page_shows_its_tasks_with_lights_and_a_hand_written_task_is_added(
    client, engine, settings
):
    operator = await log_in(client, engine, Role.OPERATOR)
    case_id, number = await a_case(engine, FieldCipher(settings.data_key), operator)
    await a_task(engine, case_id, due_in=-HOUR, owner_id=operator.id)

    form = await client.get(f"/hotline/cases/{number}/tasks/new")
    assert form.status_code == 200 and 'name="due"' in form.text
    added = await post_form(
        client,
        f"/hotline/cases/{number}/tasks",
        {"title": "联系学校班主任了解情况", "due": DUE, "owner_id": ""},
        follow_redirects=False,
    )
    assert added.status_code == 303, added.text
    page = await client.get(f"/hotline/cases/{number}")
    section = page.text[page.text.index("data-case-tasks") :]
    assert 'data-case-light="red"' in section  # the case is as late as its most overdue item
    section = section[section.index("<table") :]
    assert LIGHT.findall(section)[:2] == ["red", "green"]
    assert "联系学校班主任了解情况" in section
    async with engine.connect() as conn:
        owner, created_by, kind, due = (
            await conn.execute(
                text("SELECT owner_id, created_by_id, kind, due_at FROM case_task WHERE kind = 'manual'")
            )
        ).one()
    assert (owner, created_by, kind) == (operator.id, operator.id, "manual")
    assert str(due).startswith(f"{DUE_DAY.isoformat()} 01:30")  # 09:30 in Asia/Shanghai is 01:30 UTC
    assert len(await _events(engine, "task.added")) == 1


async def test_a_hand_written_task_is_refused_in_the_past_for_an_outsider_or_on_a_closed_case(
    client, engine, settings
):
    operator = await log_in(client, engine, Role.OPERATOR)
    async with create_sessionmaker(engine)() as session:
        sibling = await create_unit(
            session, name="西区", kind=UnitKind.OTHER, region_code="330106", parent_id=None
        )
        await session.commit()
    outsider = await make_user(engine, Role.OPERATOR, unit_id=sibling.id or 0)
    case_id, number = await a_case(engine, FieldCipher(settings.data_key), operator)

    past = await post_form(
        client, f"/hotline/cases/{number}/tasks", {"title": "回电", "due": "2001-01-01T09:00"}
    )
    assert past.status_code == 400 and 'name="due"' in past.text
    foreign = await post_form(
        client,
        f"/hotline/cases/{number}/tasks",
        {"title": "回电", "due": DUE, "owner_id": str(outsider.id)},
    )
    assert foreign.status_code == 400
    blank = await post_form(client, f"/hotline/cases/{number}/tasks", {"title": "  ", "due": DUE})
    assert blank.status_code == 400
    await _close(engine, case_id)
    closed = await post_form(client, f"/hotline/cases/{number}/tasks", {"title": "回电", "due": DUE})
    assert closed.status_code == 400
    assert await count_rows(engine, "case_task") == 0


async def test_only_a_supervisor_cancels_a_task_and_says_why(client, engine, settings):
    operator = await log_in(client, engine, Role.OPERATOR)
    case_id, _ = await a_case(engine, FieldCipher(settings.data_key), operator)
    task_id = await a_task(engine, case_id, due_in=HOUR, owner_id=operator.id)
    refused = await post_form(client, f"/hotline/tasks/{task_id}/cancel", {"reason": "不需要"})
    assert refused.status_code == 403

    await post_form(client, "/logout", {})
    await log_in(client, engine, Role.SUPERVISOR)
    no_reason = await post_form(client, f"/hotline/tasks/{task_id}/cancel", {"reason": ""})
    assert no_reason.status_code == 400
    cancelled = await post_form(
        client, f"/hotline/tasks/{task_id}/cancel", {"reason": "家长已另行求助"}, follow_redirects=False
    )
    assert cancelled.status_code == 303
    assert (await task_row(engine, task_id)).status == "cancelled"
    assert len(await _events(engine, "task.cancelled")) == 1


async def test_a_task_of_another_unit_is_not_found(client, engine, settings):
    async with create_sessionmaker(engine)() as session:
        sibling = await create_unit(
            session, name="西区", kind=UnitKind.OTHER, region_code="330106", parent_id=None
        )
        await session.commit()
    owner = await make_user(engine, Role.OPERATOR, unit_id=sibling.id or 0)
    case_id, _ = await a_case(engine, FieldCipher(settings.data_key), owner)
    task_id = await a_task(engine, case_id, due_in=HOUR, owner_id=owner.id)
    await log_in(client, engine, Role.SUPERVISOR)  # of the default unit, beside the sibling
    for action, data in (("complete", {"note": ""}), ("cancel", {"reason": "x"})):
        response = await post_form(client, f"/hotline/tasks/{task_id}/{action}", data)
        assert response.status_code == 404, action
    assert (await task_row(engine, task_id)).status == "open"


# ---- the state machine, under any sequence of acts ---------------------------------------------------

ACTS = st.lists(
    st.tuples(st.sampled_from(["complete", "complete_with_result", "cancel"]), st.booleans()),
    min_size=1,
    max_size=5,
)


async def _play(database_url: str, data_key: str, kind: TaskKind, acts: list[tuple[str, bool]]) -> None:
    engine = create_engine(database_url)
    cipher = FieldCipher(data_key)
    try:
        supervisor = await make_user(engine, Role.SUPERVISOR)
        case_id, _ = await a_case(engine, cipher, supervisor)
        task_id = await a_task(engine, case_id, due_in=HOUR, owner_id=supervisor.id, kind=kind)
        maker = create_sessionmaker(engine)
        status = TaskStatus.OPEN
        for act, with_note in acts:
            before = await task_row(engine, task_id)
            async with maker() as session:
                try:
                    if act == "cancel":
                        await cancel_task(
                            session,
                            cipher,
                            task_id=task_id,
                            actor=supervisor,
                            reason="不再需要",
                            now=utcnow(),
                        )
                        target = TaskStatus.CANCELLED
                    else:
                        result = "satisfied" if act == "complete_with_result" else None
                        await complete_task(
                            session,
                            cipher,
                            task_id=task_id,
                            actor=supervisor,
                            note="记录" if with_note else "",
                            result=result,
                            now=utcnow(),
                        )
                        target = TaskStatus.DONE
                except (Conflict, FormInvalid):
                    after = await task_row(engine, task_id)
                    assert after.status == before.status  # a refused act changes nothing
                    continue
            # An act succeeded: it was legal from where the task stood, and only a satisfaction
            # follow-up carries a result (and must).
            assert TASK_TRANSITIONS.allowed(status, target)
            if target == TaskStatus.DONE:
                assert (act == "complete_with_result") == (kind == TaskKind.SATISFACTION)
            status = target
            assert (await task_row(engine, task_id)).status == status
        async with engine.connect() as conn:
            events = (
                await conn.execute(
                    text("SELECT COUNT(*) FROM case_event WHERE case_id = :c AND kind LIKE 'task.%'"),
                    {"c": case_id},
                )
            ).scalar_one()
        assert events == (0 if status == TaskStatus.OPEN else 1)  # one entry per change, at most one change
    finally:
        await engine.dispose()


@hypothesis_settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(kind=st.sampled_from([TaskKind.CALLBACK, TaskKind.SATISFACTION]), acts=ACTS)
def test_no_sequence_of_acts_moves_a_task_illegally(database_url, kind, acts):
    asyncio.run(_play(database_url, "test-data-key-0123456789abcdef", kind, acts))


async def test_my_tasks_shows_the_most_urgent_and_says_how_many_there_are(
    client, engine, settings, monkeypatch
):
    import hotline.supervision_routes
    import hotline.task_work

    monkeypatch.setattr(hotline.task_work, "MY_TASKS_LIMIT", 2)
    monkeypatch.setattr(hotline.supervision_routes, "MY_TASKS_LIMIT", 2)
    operator = await log_in(client, engine, Role.OPERATOR)
    case_id, _ = await a_case(engine, FieldCipher(settings.data_key), operator)
    later = await a_task(engine, case_id, due_in=9 * HOUR, owner_id=operator.id)
    first = await a_task(engine, case_id, due_in=-HOUR, owner_id=operator.id)
    second = await a_task(engine, case_id, due_in=HOUR, owner_id=operator.id)

    page = (await client.get("/hotline/tasks")).text

    assert [int(i) for i in re.findall(r'data-task="(\d+)"', page)] == [first, second]
    assert 'data-open-count="3"' in page and later not in (first, second)
