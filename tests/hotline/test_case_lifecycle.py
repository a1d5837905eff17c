"""A case's lifecycle: only the moves CASE_TRANSITIONS allows, closure with an outcome and a summary and
never while a mandatory report is pending, reopening by a supervisor with a reason, and a closed case
that nothing else can change."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import AsyncTestClient

from app.server import create_app
from core.accounts import Role
from core.db import create_sessionmaker
from core.errors import FormInvalid
from core.privacy import FieldCipher
from core.transitions import IllegalTransition
from core.units import DEFAULT_UNIT_ID, UnitKind, create_unit
from hotline.case_facts import CLOSING_SUMMARY_CONTEXT
from hotline.case_lifecycle import (
    MANDATORY_REPORT_PENDING_MESSAGE,
    Closure,
    Reopening,
    StatusChange,
    change_status,
    close_case,
    manual_targets,
    move_case,
    reopen_case,
)
from hotline.case_views import find_case
from hotline.taxonomy import CASE_TRANSITIONS, CaseStatus
from tests.conftest import log_in, post_form, post_json
from tests.hotline.calls import a_call, count_rows
from tests.hotline.casework import (
    add_open_task,
    audits,
    case_model,
    case_row,
    events,
    open_case,
    quick_user,
    set_mandatory_report,
    tasks,
)

SUMMARY = "已联系学校和社区儿童主任，孩子已回校上课，家长接受家庭教育指导。"
A_CLOSURE = {"outcome": "resolved", "summary": SUMMARY}


# ---- the state machine, as a property ------------------------------------------------------------------

OPEN_TARGETS = [CaseStatus.IN_PROGRESS, CaseStatus.REFERRED, CaseStatus.FOLLOW_UP]
ACTIONS = st.one_of(
    st.tuples(st.just("change"), st.sampled_from(list(CaseStatus))),
    st.tuples(st.just("move"), st.sampled_from(OPEN_TARGETS)),
    st.tuples(st.just("close"), st.sampled_from(["complete", "no outcome", "no summary"])),
    st.tuples(st.just("reopen"), st.sampled_from(["supervisor", "operator", "no reason"])),
    st.tuples(st.just("report"), st.sampled_from(["pending", "recorded"])),
)


@dataclass
class Expected:
    """What the case should be after each action, kept by the rules written out plainly."""

    status: str = CaseStatus.ACCEPTED
    report: str | None = None
    closures: int = 0
    moves: list[tuple[str, str]] = field(default_factory=list)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(ACTIONS, min_size=1, max_size=12))
async def test_no_sequence_of_actions_reaches_an_illegal_state(engine, settings, steps):
    cipher = FieldCipher(settings.data_key)
    # Staff come from a session of their own, as a request's user does (the login middleware's).
    async with create_sessionmaker(engine)() as session:
        operator = await quick_user(session, Role.OPERATOR)
        supervisor = await quick_user(session, Role.SUPERVISOR)
    async with create_sessionmaker(engine)() as session:
        number = await open_case(session, cipher, operator)
        expected = Expected()

        for action, choice in steps:
            before = expected.status
            try:
                await _act(session, cipher, engine, number, action, choice, operator, supervisor)
            except FormInvalid as refusal:
                assert not _allowed(expected, action, choice), (action, choice, before, refusal.errors)
                if action == "close" and choice == "complete" and before != CaseStatus.CLOSED:
                    assert refusal.errors == {"case": MANDATORY_REPORT_PENDING_MESSAGE}
            else:
                _apply(expected, action, choice)

            row = await case_row(engine, number)
            assert row.status == expected.status, (steps, action, choice)
            closed = row.status == CaseStatus.CLOSED
            assert (row.closed_at is not None, row.outcome is not None) == (closed, closed)
            assert (row.closing_summary_ciphertext is not None) == closed
            if expected.report == "pending":
                assert not (closed and before != CaseStatus.CLOSED), "closed while a report was pending"

        moves = [(e.detail["from"], e.detail["to"]) for e in await events(engine, number, "status")]
        assert moves == expected.moves
        for source, target in moves:
            assert CASE_TRANSITIONS.allowed(source, target)
        # Each move starts where the one before ended: the timeline tells the case's whole path.
        starts = [CaseStatus.ACCEPTED, *[target for _, target in moves]][: len(moves)]
        assert [source for source, _ in moves] == starts
        open_tasks = [t for t in await tasks(engine, number) if t.status == "open"]
        if expected.status == CaseStatus.CLOSED:
            assert [t.kind for t in open_tasks] == ["satisfaction"]
        satisfaction = [t for t in await tasks(engine, number) if t.kind == "satisfaction"]
        assert len(satisfaction) == expected.closures


def _allowed(expected: Expected, action: str, choice: str) -> bool:
    status = expected.status
    if action == "change":
        return choice in manual_targets(status)
    if action == "close":
        return status != CaseStatus.CLOSED and choice == "complete" and expected.report != "pending"
    if action == "reopen":
        return status == CaseStatus.CLOSED and choice == "supervisor"
    return True


def _apply(expected: Expected, action: str, choice: str) -> None:
    status = expected.status
    if action == "report":
        expected.report = choice
        return
    if action == "move" and (status == CaseStatus.CLOSED or not CASE_TRANSITIONS.allowed(status, choice)):
        return  # move_case said False: nothing happened
    target = {"close": CaseStatus.CLOSED, "reopen": CaseStatus.IN_PROGRESS}.get(action, choice)
    expected.moves.append((status, target))
    expected.status = target
    expected.closures += action == "close"


async def _act(session, cipher, engine, number, action, choice, operator, supervisor) -> None:
    if action == "change":
        await change_status(
            session, cipher, number=number, change=StatusChange(status=choice), actor=operator
        )
    elif action == "move":
        case = await find_case(session, number, operator)
        await move_case(session, cipher, case, choice, actor_label="system")
        await session.commit()
    elif action == "close":
        closure = Closure(
            outcome=None if choice == "no outcome" else "resolved",
            summary=None if choice == "no summary" else SUMMARY,
        )
        await close_case(session, cipher, number=number, closure=closure, actor=operator)
    elif action == "reopen":
        actor = operator if choice == "operator" else supervisor
        reason = "" if choice == "no reason" else "家长回访表示孩子再次离家"
        await reopen_case(session, cipher, number=number, reopening=Reopening(reason=reason), actor=actor)
    else:
        await set_mandatory_report(engine, number, choice)


async def test_move_case_answers_false_outside_its_sources_and_never_closes(engine, settings):
    cipher = FieldCipher(settings.data_key)
    async with create_sessionmaker(engine)() as session:
        operator = await quick_user(session, Role.OPERATOR)
        number = await open_case(session, cipher, operator)
        case = await find_case(session, number, operator)
        assert await move_case(session, cipher, case, CaseStatus.REFERRED, actor_label="agency:派出所")
        await session.commit()
        assert not await move_case(session, cipher, case, CaseStatus.REFERRED, actor_label="system")
        with pytest.raises(IllegalTransition):
            await move_case(session, cipher, case, CaseStatus.CLOSED, actor=operator)
        await session.commit()
    [event] = await events(engine, number, "status")
    assert (event.actor_id, event.actor_label, event.detail) == (
        None,
        "agency:派出所",
        {"from": "accepted", "to": "referred"},
    )
    assert (await case_row(engine, number)).status == "referred"


# ---- through the pages and the API --------------------------------------------------------------------


async def _case(client) -> str:
    return (await post_json(client, "/api/calls", a_call())).json()["case_number"]


async def test_a_status_change_records_who_when_and_why(client, engine, settings):
    operator = await log_in(client, engine, Role.OPERATOR)
    number = await _case(client)

    page = await client.get(f"/hotline/cases/{number}")
    for target in ("in_progress", "referred", "follow_up"):
        assert f'name="status" value="{target}"' in page.text
    moved = await post_form(
        client, f"/hotline/cases/{number}/status", {"status": "in_progress", "reason": "已联系家长"}
    )
    assert moved.status_code == 200 and "状态已更改" in moved.text  # the redirect, followed
    api = await post_json(client, f"/api/cases/{number}/status", {"status": "referred"})
    assert api.status_code == 200 and api.json()["status"] == "referred"

    first, second = await events(engine, number, "status")
    assert (first.actor_id, first.detail) == (operator.id, {"from": "accepted", "to": "in_progress"})
    cipher = FieldCipher(settings.data_key)
    assert cipher.decrypt(first.text_ciphertext, context="case_event.text") == "已联系家长"
    assert second.detail == {"from": "in_progress", "to": "referred"} and second.text_ciphertext is None
    assert [a.actor_id for a in await audits(engine, "case.status", number)] == [operator.id] * 2

    # Not a legal move, not a status, not by this form: refused, nothing changed.
    for wanted in ("referred", "accepted", "closed", "lost"):
        refused = await post_json(client, f"/api/cases/{number}/status", {"status": wanted})
        assert refused.status_code == 400, wanted
    timeline = (await client.get(f"/api/cases/{number}/timeline")).json()
    assert [entry["what"] for entry in timeline if entry["kind"] == "status"] == [
        "状态：已受理 → 办理中",
        "状态：办理中 → 已转介",
    ]
    assert (await case_row(engine, number)).status == "referred"


async def test_closing_needs_an_outcome_and_a_summary(client, engine):
    await log_in(client, engine, Role.OPERATOR)
    number = await _case(client)

    for form, missing in (({"summary": SUMMARY}, "outcome"), ({"outcome": "resolved"}, "summary")):
        refused = await post_form(client, f"/hotline/cases/{number}/close", form)
        assert refused.status_code == 400
        assert 'class="field-error" id="close-' + missing in refused.text
        assert "没有作任何更改" in refused.text
    bad = await post_json(client, f"/api/cases/{number}/close", {"outcome": "happy", "summary": " "})
    assert bad.status_code == 400 and set(bad.json()["errors"]) == {"outcome", "summary"}
    row = await case_row(engine, number)
    assert (row.status, row.outcome, row.closed_at) == ("accepted", None, None)
    assert await count_rows(engine, "case_task") == 0


async def test_closing_is_refused_while_the_mandatory_report_is_pending(client, engine, settings):
    operator = await log_in(client, engine, Role.OPERATOR)
    number = await _case(client)
    await set_mandatory_report(engine, number, "pending")
    await add_open_task(engine, number, owner_id=operator.id)

    page = await post_form(client, f"/hotline/cases/{number}/close", A_CLOSURE)
    api = await post_json(client, f"/api/cases/{number}/close", A_CLOSURE)
    assert page.status_code == api.status_code == 400
    assert "强制报告尚未登记" in page.text
    assert api.json()["errors"] == {"case": "强制报告尚未登记向公安机关报告的情况，个案不能办结。"}
    assert (await case_row(engine, number)).status == "accepted"
    assert [t.status for t in await tasks(engine, number)] == ["open"]

    await set_mandatory_report(engine, number, "recorded")
    closed = await post_json(client, f"/api/cases/{number}/close", A_CLOSURE)
    assert closed.status_code == 200 and closed.json()["status"] == "closed"

    row = await case_model(engine, number)
    assert row.outcome == "resolved" and row.closed_at is not None
    cipher = FieldCipher(settings.data_key)
    assert cipher.decrypt(row.closing_summary_ciphertext, context=CLOSING_SUMMARY_CONTEXT) == SUMMARY
    manual, satisfaction = await tasks(engine, number)
    assert manual.status == "cancelled"
    assert (satisfaction.kind, satisfaction.status, satisfaction.rule_key) == (
        "satisfaction",
        "open",
        "satisfaction",
    )
    assert satisfaction.owner_id == operator.id
    assert abs(satisfaction.due_at - (row.closed_at + timedelta(days=7))) < timedelta(seconds=1)
    [event] = await events(engine, number, "status")
    assert event.detail == {"from": "accepted", "to": "closed", "outcome": "resolved", "tasks_cancelled": 1}
    assert [a.actor_id for a in await audits(engine, "case.close", number)] == [operator.id]


async def test_only_a_supervisor_reopens_and_only_with_a_reason(client, engine):
    operator = await log_in(client, engine, Role.OPERATOR)
    number = await _case(client)
    assert (await post_json(client, f"/api/cases/{number}/close", A_CLOSURE)).status_code == 200

    page = await client.get(f"/hotline/cases/{number}")
    assert f"/hotline/cases/{number}/reopen" not in page.text  # operators get no reopen form
    assert (await post_json(client, f"/api/cases/{number}/reopen", {"reason": "再次来电"})).status_code == 403
    assert (
        await post_form(client, f"/hotline/cases/{number}/reopen", {"reason": "再次来电"})
    ).status_code == 403

    supervisor = await log_in(client, engine, Role.SUPERVISOR)
    page = await client.get(f"/hotline/cases/{number}")
    assert f"/hotline/cases/{number}/reopen" in page.text
    no_reason = await post_json(client, f"/api/cases/{number}/reopen", {"reason": "  "})
    assert no_reason.status_code == 400 and "reason" in no_reason.json()["errors"]
    assert (await case_row(engine, number)).status == "closed"

    reopened = await post_form(
        client, f"/hotline/cases/{number}/reopen", {"reason": "满意度回访时家长说孩子又离家"}
    )
    assert reopened.status_code == 200 and "个案已重新开启" in reopened.text
    row = await case_row(engine, number)
    assert (row.status, row.outcome, row.closing_summary_ciphertext, row.closed_at) == (
        "in_progress",
        None,
        None,
        None,
    )
    [satisfaction] = await tasks(engine, number)
    assert satisfaction.status == "cancelled"  # the case is not finished after all
    last = (await events(engine, number, "status"))[-1]
    assert (last.actor_id, last.detail) == (supervisor.id, {"from": "closed", "to": "in_progress"})
    assert [a.actor_id for a in await audits(engine, "case.reopen", number)] == [supervisor.id]
    # Reopening an open case is refused.
    again = await post_json(client, f"/api/cases/{number}/reopen", {"reason": "再次"})
    assert again.status_code == 400

    # Closed again later: a satisfaction follow-up of its own.
    assert (await post_json(client, f"/api/cases/{number}/close", A_CLOSURE)).status_code == 200
    assert [(t.rule_key, t.status, t.owner_id) for t in await tasks(engine, number)] == [
        ("satisfaction", "cancelled", operator.id),
        ("satisfaction:2", "open", operator.id),
    ]


CLOSED_CASE_ACTS = [
    ("status", {"status": "in_progress"}),
    ("close", A_CLOSURE),
    ("risk", {"risk_level": "high", "reason": "孩子说不想活了"}),
    ("child", {"sex": "female", "age": 13, "flags": ["left_behind"]}),
    ("notes", {"text": "再次联系学校"}),
    ("help-plan", {"measures": "每周家访", "responsible": "社区儿童主任", "review_on": "2030-01-01"}),
    ("take", {}),
]


async def test_a_closed_case_is_read_only(client, engine):
    await log_in(client, engine, Role.OPERATOR)
    number = await _case(client)
    assert (await post_json(client, f"/api/cases/{number}/close", A_CLOSURE)).status_code == 200
    before = await case_row(engine, number)
    event_count = len(await events(engine, number))

    page = await client.get(f"/hotline/cases/{number}")
    assert "请督导填写理由后重新开启" in page.text
    for act in ("status", "close", "risk", "child", "notes", "help-plan", "take"):
        assert f'action="/hotline/cases/{number}/{act}"' not in page.text, act

    for act, body in CLOSED_CASE_ACTS:
        api = await post_json(client, f"/api/cases/{number}/{act}", body)
        assert api.status_code == 400, act
        form = {key: value for key, value in body.items() if not isinstance(value, list | int)}
        html = await post_form(client, f"/hotline/cases/{number}/{act}", form)
        assert html.status_code == 400, act
    supervisor = await log_in(client, engine, Role.SUPERVISOR)
    owner = await post_json(client, f"/api/cases/{number}/owner", {"owner_id": supervisor.id})
    assert owner.status_code == 400 and "请督导填写理由后重新开启" in owner.json()["errors"]["case"]

    assert await case_row(engine, number) == before
    assert len(await events(engine, number)) == event_count
    assert [t.kind for t in await tasks(engine, number)] == ["satisfaction"]


async def test_sibling_units_and_other_roles_cannot_reach_a_cases_acts(client, engine, settings):

    async with create_sessionmaker(engine)() as session:
        west = await create_unit(
            session, name="西湖区", kind=UnitKind.OTHER, region_code="330106", parent_id=1
        )
        east = await create_unit(
            session, name="上城区", kind=UnitKind.OTHER, region_code="330102", parent_id=1
        )
        await session.commit()
    await log_in(client, engine, Role.OPERATOR, unit_id=west.id or DEFAULT_UNIT_ID)
    number = await _case(client)
    before = await case_row(engine, number)

    # A second app for each second client: a test client runs its app on a loop of its own, and PostgreSQL
    # connections must not cross loops.
    async with AsyncTestClient(app=create_app(settings)) as other:
        await log_in(other, engine, Role.SUPERVISOR, unit_id=east.id or DEFAULT_UNIT_ID)
        acts = [*CLOSED_CASE_ACTS, ("reopen", {"reason": "x"}), ("owner", {"owner_id": 1})]
        for act, body in acts:
            api = await post_json(other, f"/api/cases/{number}/{act}", body)
            assert api.status_code == 404, act
            html = await post_form(other, f"/hotline/cases/{number}/{act}", {"reason": "x"})
            assert html.status_code == 404, act
        assert (await other.get(f"/api/cases/{number}/timeline")).status_code == 404

    for role in (Role.COORDINATOR, Role.EXPERT, Role.ADMIN):
        async with AsyncTestClient(app=create_app(settings)) as other:
            await log_in(other, engine, role, unit_id=west.id or DEFAULT_UNIT_ID)
            assert (await other.get(f"/api/cases/{number}/timeline")).status_code == 403
            assert (await post_json(other, f"/api/cases/{number}/notes", {"text": "x"})).status_code == 403
    assert await case_row(engine, number) == before
    assert await events(engine, number) == []


def test_the_status_form_offers_only_legal_moves():
    """The page offers the legal next states of a case, never "closed" (closing has its own form)."""
    for status in CaseStatus:
        targets = manual_targets(status)
        assert CaseStatus.CLOSED not in targets and status not in targets
        for target in targets:
            assert CASE_TRANSITIONS.allowed(status, target)
    assert manual_targets(CaseStatus.CLOSED) == []
