"""`family-hotline demo` seeds a quarter of case work that keeps every rule of the case-work tables, and
that shows red, amber and green on the supervision board whenever it is run."""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import SQLModel, select

from app.demo import DEMO_PASSWORD, seed_demo
from app.demo_quarter import seed_quarter
from app.demo_quarter_stories import AGENCIES
from app.demo_reports import HISTORY_MARK
from core.accounts import Role, StaffUser
from core.db import AsyncSession, create_sessionmaker
from core.privacy import FieldCipher
from core.settings import Settings
from core.units import OrgUnit, is_within
from hotline import cipher_contexts
from hotline.agencies import agency_mobile
from hotline.alerts import MOBILE_CONTEXT
from hotline.case_events import EVENT_TEXT_CONTEXT
from hotline.case_terms import (
    CASE_OUTCOMES,
    FOUR_LOSSES,
    REFERRAL_TRANSITIONS,
    SATISFACTION,
    Light,
    MandatoryReportStatus,
    ReferralStatus,
    RiskLevel,
    TaskKind,
    TaskStatus,
)
from hotline.casework_models import (
    Agency,
    CaseEvent,
    ChildFlag,
    HelpPlan,
    MandatoryReport,
    Referral,
    StaffAlert,
    Task,
)
from hotline.intake import CALLER_PHONE_CONTEXT, SUMMARY_CONTEXT
from hotline.lights import light_of
from hotline.models import Call, ReferralCase
from hotline.taxonomy import CASE_TRANSITIONS, CaseStatus, Line
from tests.conftest import post_form

REFERRAL_EVENT_KINDS = {ReferralStatus.CLOSED: "referral.accepted"}
OPEN_REFERRAL = {
    ReferralStatus.SENT,
    ReferralStatus.ACKNOWLEDGED,
    ReferralStatus.FEEDBACK,
    ReferralStatus.RETURNED,
}
ZONE = ZoneInfo("Asia/Shanghai")

# Every encrypted column the demo writes, and the context it must decrypt with.
CONTEXTS: dict[tuple[type[SQLModel], str], str] = {
    (ReferralCase, "risk_reason_ciphertext"): cipher_contexts.CASE_RISK_REASON,
    (ReferralCase, "child_name_ciphertext"): cipher_contexts.CASE_CHILD_NAME,
    (ReferralCase, "closing_summary_ciphertext"): cipher_contexts.CASE_CLOSING_SUMMARY,
    (Call, "summary_ciphertext"): cipher_contexts.CALL_SUMMARY,
    (Call, "caller_phone_ciphertext"): cipher_contexts.CALL_CALLER_PHONE,
    (CaseEvent, "text_ciphertext"): cipher_contexts.EVENT_TEXT,
    (Agency, "contact_name_ciphertext"): cipher_contexts.AGENCY_CONTACT_NAME,
    (Agency, "contact_phone_ciphertext"): cipher_contexts.AGENCY_CONTACT_PHONE,
    (Referral, "reason_ciphertext"): cipher_contexts.REFERRAL_REASON,
    (Referral, "request_ciphertext"): cipher_contexts.REFERRAL_REQUEST,
    (Referral, "feedback_ciphertext"): cipher_contexts.REFERRAL_FEEDBACK,
    (Referral, "decline_reason_ciphertext"): cipher_contexts.REFERRAL_DECLINE_REASON,
    (MandatoryReport, "police_response_ciphertext"): cipher_contexts.MANDATORY_REPORT_POLICE_RESPONSE,
    (Task, "note_ciphertext"): cipher_contexts.TASK_NOTE,
    (HelpPlan, "measures_ciphertext"): cipher_contexts.HELP_PLAN_MEASURES,
    (StaffUser, "mobile_ciphertext"): cipher_contexts.STAFF_MOBILE,
}


def test_the_shared_cipher_contexts_agree_with_the_modules_that_already_name_them():
    assert cipher_contexts.CALL_SUMMARY == SUMMARY_CONTEXT
    assert cipher_contexts.CALL_CALLER_PHONE == CALLER_PHONE_CONTEXT
    assert cipher_contexts.EVENT_TEXT == EVENT_TEXT_CONTEXT
    assert cipher_contexts.STAFF_MOBILE == MOBILE_CONTEXT
    # "<table>.<column without _ciphertext>", and no two fields share one.
    for (model, column), context in CONTEXTS.items():
        assert context == f"{model.__tablename__}.{column.removesuffix('_ciphertext')}" or model in (
            StaffUser,
            CaseEvent,
        )
    assert len(set(CONTEXTS.values())) == len(CONTEXTS)


async def _all(session: AsyncSession, model: type[Any]) -> list[Any]:
    return list((await session.exec(select(model).order_by(*model.__table__.primary_key.columns))).all())


class Quarter:
    """Everything the demo wrote, loaded once."""

    async def load(self, session: AsyncSession) -> Quarter:
        # Without the older history app.demo_reports adds for the reports' comparisons.
        every_case = await _all(session, ReferralCase)
        self.cases = {case.id: case for case in every_case if case.child_district != HISTORY_MARK}
        self.calls = [call for call in await _all(session, Call) if call.case_id in self.cases]
        self.events = await _all(session, CaseEvent)
        self.reports = await _all(session, MandatoryReport)
        self.agencies = {agency.id: agency for agency in await _all(session, Agency)}
        self.referrals = await _all(session, Referral)
        self.tasks = await _all(session, Task)
        self.plans = await _all(session, HelpPlan)
        self.flags = await _all(session, ChildFlag)
        self.alerts = await _all(session, StaffAlert)
        self.staff = {user.username: user for user in await _all(session, StaffUser)}
        self.units = {unit.id: unit for unit in await _all(session, OrgUnit)}
        return self

    def rows(self, model: type[Any]) -> list[Any]:
        return {
            ReferralCase: list(self.cases.values()),
            Call: self.calls,
            CaseEvent: self.events,
            Agency: list(self.agencies.values()),
            Referral: self.referrals,
            MandatoryReport: self.reports,
            Task: self.tasks,
            HelpPlan: self.plans,
            StaffUser: list(self.staff.values()),
        }[model]


def _lights(due_times: list[datetime], now: datetime, settings: Settings) -> set[Light]:
    return {light_of(due, now, timedelta(hours=settings.light_amber_hours)) for due in due_times}


def _assert_quarter(q: Quarter, settings: Settings, now: datetime) -> None:
    cipher = FieldCipher(settings.data_key)
    cases = q.cases.values()

    # A quarter's worth, in every status, on both lines and in both units, nothing in the future.
    assert len(q.cases) >= 30
    assert {case.status for case in cases} == set(CaseStatus)
    assert {case.line for case in cases} == set(Line)
    assert {case.unit_id for case in cases} == set(q.units)
    assert all(now - timedelta(days=91) < case.created_at <= now for case in cases)
    assert all(event.at <= now for event in q.events) and all(call.received_at <= now for call in q.calls)

    # Triage: risk with a reason, the child's details, 四失 flags on some.
    assessed = [case for case in cases if case.risk_level != RiskLevel.UNASSESSED]
    assert len(assessed) >= len(q.cases) - 2 and all(case.risk_reason_ciphertext for case in assessed)
    assert {RiskLevel.LOW, RiskLevel.MEDIUM, RiskLevel.HIGH, RiskLevel.CRITICAL} <= {
        c.risk_level for c in cases
    }
    assert all(case.child_age is not None and case.child_sex != "unknown" for case in cases)
    assert 0 < sum(1 for case in cases if case.child_name_ciphertext) <= 4
    assert {flag.flag for flag in q.flags} & set(FOUR_LOSSES)

    # Owners are the demo operators of the case's own unit.
    operators = {user.id: user for user in q.staff.values() if user.role == Role.OPERATOR}
    assert all(
        case.owner_id in operators and operators[case.owner_id].unit_id == case.unit_id for case in cases
    )
    assert len({case.owner_id for case in cases}) >= 3

    # Calls: one to three a case, some anonymous, some numbers calling about more than one case.
    calls_by_case: dict[int, list[Call]] = defaultdict(list)
    for call in q.calls:
        calls_by_case[call.case_id].append(call)
    assert set(calls_by_case) == set(q.cases)
    assert all(1 <= len(calls) <= 3 for calls in calls_by_case.values())
    assert any(call.caller_phone_ciphertext is None for call in q.calls)
    cases_by_phone: dict[str, set[int]] = defaultdict(set)
    for call in q.calls:
        if call.caller_phone_index:
            cases_by_phone[call.caller_phone_index].add(call.case_id)
    assert any(len(case_ids) > 1 for case_ids in cases_by_phone.values())

    # Every row belongs to its case's unit; agencies are the case unit's or above it.
    for row in [*q.calls, *q.reports, *q.referrals, *q.tasks, *q.plans]:
        assert row.unit_id == q.cases[row.case_id].unit_id, row
    for referral in q.referrals:
        agency_unit = q.units[q.agencies[referral.agency_id].unit_id]
        assert is_within(q.units[referral.unit_id].path, agency_unit.path)

    # Agencies: at least six kinds in the city, a couple in the district, contacts encrypted.
    by_unit: dict[int, set[str]] = defaultdict(set)
    for agency in q.agencies.values():
        by_unit[agency.unit_id].add(agency.kind)
        assert agency.contact_name_ciphertext and agency.contact_phone_ciphertext and agency.feedback_days > 0
    # Stored as the agency form stores them: the mobiles in E.164, so a referral texts its link to them.
    texted = {agency.name for agency in q.agencies.values() if agency_mobile(cipher, agency)}
    assert texted == {spec.name for spec in AGENCIES if spec.contact_phone.startswith("1")}
    city, district = sorted(q.units)
    assert {"police", "civil_affairs", "education", "school", "health", "procuratorate"} <= by_unit[city]
    assert len(by_unit[district]) >= 2

    # Referrals in every status, each open one with its check task due when the feedback is.
    assert {referral.status for referral in q.referrals} == set(ReferralStatus)
    open_referrals = [referral for referral in q.referrals if referral.status in OPEN_REFERRAL]
    assert _lights([referral.due_at for referral in open_referrals], now, settings) == set(Light)
    checks = {task.rule_key: task for task in q.tasks if task.kind == TaskKind.REFERRAL_CHECK}
    for referral in q.referrals:
        check = checks[f"referral:{referral.id}"]
        assert check.case_id == referral.case_id and check.referral_id == referral.id
        if referral.status in OPEN_REFERRAL:
            assert check.status == TaskStatus.OPEN and check.due_at == referral.due_at
            assert referral.closed_at is None
        else:
            assert check.status != TaskStatus.OPEN and referral.closed_at is not None
        assert referral.due_at.astimezone(ZONE).date() == referral.due_on
        assert referral.sent_at >= q.cases[referral.case_id].created_at
    assert all(q.cases[referral.case_id].status != CaseStatus.ACCEPTED for referral in q.referrals)
    # A case with a referral out is referred, or in follow-up once an agency has reported back.
    following = {CaseStatus.REFERRED, CaseStatus.FOLLOW_UP}
    assert all(q.cases[referral.case_id].status in following for referral in open_referrals)

    # Mandatory reports: one pending and overdue, one pending and due later today, recorded ones with
    # police unit, channel and receipt; every case of a reporting category has its report.
    pending = [report for report in q.reports if report.status == MandatoryReportStatus.PENDING]
    assert any(report.due_at <= now for report in pending)
    assert (
        any(
            report.due_at > now and report.due_at.astimezone(ZONE).date() == now.astimezone(ZONE).date()
            for report in pending
        )
        or settings.mandatory_report_deadline_hours
    )
    recorded = [report for report in q.reports if report.status == MandatoryReportStatus.RECORDED]
    assert len(recorded) >= 2
    assert all(r.police_unit and r.channel and r.receipt_number and r.recorded_at for r in recorded)
    reported_cases = {report.case_id for report in q.reports}
    violent = {case.id for case in cases if case.category in {"violence", "sexual_abuse", "guardianship"}}
    assert violent <= reported_cases
    # The supervisors over each pending report's unit were alerted, and have not read it yet.
    for report in pending:
        unit_path = q.units[report.unit_id].path
        supervisors = {
            user.id
            for user in q.staff.values()
            if user.role == Role.SUPERVISOR and is_within(unit_path, q.units[user.unit_id].path)
        }
        alerts = [a for a in q.alerts if a.case_id == report.case_id and a.read_at is None]
        assert supervisors and supervisors <= {alert.recipient_id for alert in alerts}
        number = q.cases[report.case_id].number
        assert all(json.loads(alert.params) == {"number": number} for alert in alerts)
        assert all(
            alert.message == "Case {number} needs a mandatory report to the police" for alert in alerts
        )

    # Closed cases: outcome, summary, closing time, no pending report, no open task but the follow-up.
    closed = [case for case in cases if case.status == CaseStatus.CLOSED]
    for case in closed:
        assert case.outcome in CASE_OUTCOMES and case.closed_at is not None
        assert cipher.decrypt(
            case.closing_summary_ciphertext or "", context=cipher_contexts.CASE_CLOSING_SUMMARY
        )
        assert case.id not in {report.case_id for report in pending}
        open_kinds = {t.kind for t in q.tasks if t.case_id == case.id and t.status == TaskStatus.OPEN}
        assert open_kinds <= {TaskKind.SATISFACTION}
    assert all(case.outcome is None and case.closed_at is None for case in cases if case.status != "closed")
    satisfaction = [task for task in q.tasks if task.kind == TaskKind.SATISFACTION]
    assert {task.case_id for task in satisfaction} == {case.id for case in closed}
    done_satisfaction = [task for task in satisfaction if task.status == TaskStatus.DONE]
    assert done_satisfaction and all(task.result in SATISFACTION for task in done_satisfaction)

    # Tasks of every kind; open ones red, amber and green; done ones with who and when.
    assert {task.kind for task in q.tasks} == set(TaskKind)
    open_tasks = [task for task in q.tasks if task.status == TaskStatus.OPEN]
    assert _lights([task.due_at for task in open_tasks], now, settings) == set(Light)
    done = [task for task in q.tasks if task.status == TaskStatus.DONE]
    assert done and all(task.done_at and task.done_by_id and task.done_at <= now for task in done)
    # A help plan on a high-risk case, its review a task.
    for plan in q.plans:
        assert q.cases[plan.case_id].risk_level in (RiskLevel.HIGH, RiskLevel.CRITICAL)
        assert any(t.case_id == plan.case_id and t.kind == TaskKind.PLAN_REVIEW for t in q.tasks)
    assert q.plans

    _assert_timelines(q)
    _assert_everything_decrypts(q, cipher)

    # A supervisor in each unit; the city's on duty with a mobile.
    supervisors = [user for user in q.staff.values() if user.role == Role.SUPERVISOR]
    assert {user.unit_id for user in supervisors} == set(q.units)
    on_duty = [user for user in supervisors if user.on_duty]
    assert [user.username for user in on_duty] == ["supervisor"]
    assert cipher.decrypt(on_duty[0].mobile_ciphertext or "", context=MOBILE_CONTEXT).startswith("+861")


def _assert_timelines(q: Quarter) -> None:
    """Each case's timeline reads in time order, and replaying its entries walks the state machines
    to exactly the statuses the rows have."""
    events_by_case: dict[int, list[CaseEvent]] = defaultdict(list)
    for event in q.events:
        events_by_case[event.case_id].append(event)
    referrals = {referral.id: referral for referral in q.referrals}
    for case_id, case in q.cases.items():
        events = events_by_case[case_id]
        assert [event.at for event in events] == sorted(event.at for event in events)
        assert all(event.at >= case.created_at for event in events)
        status = CaseStatus.ACCEPTED
        risk = RiskLevel.UNASSESSED
        referral_status: dict[int, str] = {}
        for event in events:
            detail = json.loads(event.detail)
            assert event.actor_id is not None or event.actor_label.startswith("agency:")
            if event.kind == "status":
                assert detail["from"] == status
                CASE_TRANSITIONS.check(status, detail["to"])
                status = detail["to"]
            elif event.kind == "risk":
                assert detail["from"] == risk and event.text_ciphertext
                risk = detail["to"]
            elif event.kind == "referral.sent":
                referral_status[detail["referral"]] = ReferralStatus.SENT
            elif event.kind.startswith("referral."):
                # Agency steps name the status they reached; staff steps where they came from and went.
                step = detail.get("status") or detail["to"]
                assert event.kind == REFERRAL_EVENT_KINDS.get(step, f"referral.{step}")
                assert (
                    detail.get("from", referral_status[detail["referral"]])
                    == referral_status[detail["referral"]]
                )
                REFERRAL_TRANSITIONS.check(referral_status[detail["referral"]], step)
                referral_status[detail["referral"]] = step
                assert event.actor_label.startswith("agency:") == ("status" in detail)
        assert status == case.status and risk == case.risk_level
        assert referral_status == {rid: r.status for rid, r in referrals.items() if r.case_id == case_id}
        kinds = {event.kind for event in events}
        if any(report.case_id == case_id for report in q.reports):
            assert "report.opened" in kinds
        if any(r.case_id == case_id and r.status == "recorded" for r in q.reports):
            assert "report.recorded" in kinds
        # Each task done has its entry, naming it; a referral's check is settled by the referral's step.
        done = {
            t.id
            for t in q.tasks
            if t.case_id == case_id and t.status == TaskStatus.DONE and not t.referral_id
        }
        assert {json.loads(e.detail)["task"] for e in events if e.kind == "task.done"} == done


def _assert_everything_decrypts(q: Quarter, cipher: FieldCipher) -> None:
    for model in {model for model, _ in CONTEXTS}:
        columns = [name for name in model.model_fields if name.endswith("_ciphertext")]
        for name in columns:
            if (model, name) not in CONTEXTS:
                assert all(getattr(row, name) is None for row in q.rows(model)), (model, name)
                continue
            written = [getattr(row, name) for row in q.rows(model) if getattr(row, name)]
            assert written, f"the demo writes {model.__tablename__}.{name}"
            for token in written:
                assert cipher.decrypt(token, context=CONTEXTS[model, name]).strip()


async def _seed_and_load(
    settings: Settings, engine: Any, now: datetime | None, capsys: Any
) -> tuple[Quarter, str]:
    assert await seed_demo(settings, print_summary=True, now=now)
    printed = capsys.readouterr().out
    async with create_sessionmaker(engine)() as session:
        return await Quarter().load(session), printed


async def test_demo_seeds_a_quarter_that_lights_the_board_red_amber_and_green(settings, engine, capsys):
    quarter, printed = await _seed_and_load(settings, engine, None, capsys)
    _assert_quarter(quarter, settings, datetime.now(UTC))

    # The summary names the board and one agency link, which opens a referral waiting for its agency.
    assert f"{settings.public_base_url}/hotline/supervision" in printed
    [token] = re.findall(rf"{re.escape(settings.public_base_url)}/r/([A-Za-z0-9_-]+)", printed)
    [linked] = [r for r in quarter.referrals if r.token_hash == hashlib.sha256(token.encode()).hexdigest()]
    assert linked.status == ReferralStatus.SENT
    assert quarter.cases[linked.case_id].number in printed
    # No other token was printed: every other referral's link stays secret.
    assert printed.count("/r/") == 1
    # Seeding again changes nothing.
    assert not await seed_demo(settings)


@pytest.mark.parametrize(
    "local_now",
    [
        datetime(2026, 3, 2, 0, 5),  # a Monday just after midnight: "today's" case opened at 00:00
        datetime(2026, 3, 7, 23, 55),  # a Saturday just before midnight: due dates on working days
        datetime(2027, 1, 4, 10, 0),  # early January: the quarter spans two years of case numbers
    ],
)
async def test_the_quarter_keeps_its_rules_at_any_moment_it_is_seeded(settings, engine, capsys, local_now):
    now = local_now.replace(tzinfo=ZONE).astimezone(UTC)
    quarter, _ = await _seed_and_load(settings, engine, now, capsys)
    _assert_quarter(quarter, settings, now)
    numbers = [case.number for case in sorted(quarter.cases.values(), key=lambda case: case.created_at)]
    for prefix in ("12355", "FE"):
        of_line = [number for number in numbers if number.startswith(prefix + "-")]
        # Numbered in the order the cases were opened, restarting with the local year.
        assert of_line == sorted(of_line, key=lambda n: (n.split("-")[1], n))
    if local_now.month == 1:
        assert {number.split("-")[1] for number in numbers} == {"2026", "2027"}


def _without_ids(detail: str) -> dict[str, Any]:
    return {
        key: value for key, value in json.loads(detail).items() if key not in ("referral", "task", "agency")
    }


async def test_the_same_seed_and_moment_give_the_same_quarter(settings, engine):
    """Deterministic apart from ciphertext nonces and link tokens: two runs (each rolled back) agree."""
    assert await seed_demo(settings)
    now = datetime(2026, 6, 15, 3, 0, tzinfo=UTC)
    cipher = FieldCipher(settings.data_key)
    snapshots = []
    async with create_sessionmaker(engine)() as session:
        for _ in range(2):
            staff = {user.username: user for user in await _all(session, StaffUser)}
            units = await _all(session, OrgUnit)
            first_case = max(case.id for case in await _all(session, ReferralCase))
            await seed_quarter(session, settings, units=units, staff=staff, now=now)
            q = await Quarter().load(session)
            snapshots.append(
                (
                    [
                        (c.number, c.status, c.risk_level, c.created_at)
                        for c in q.cases.values()
                        if c.id > first_case
                    ],
                    sorted(
                        (cipher.decrypt(call.summary_ciphertext, context=SUMMARY_CONTEXT), call.received_at)
                        for call in q.calls
                        if call.case_id > first_case
                    ),
                    sorted((t.kind, t.due_at, t.status, t.title) for t in q.tasks if t.case_id > first_case),
                    sorted((r.status, r.sent_at, r.due_on) for r in q.referrals if r.case_id > first_case),
                    # Row ids aside: PostgreSQL does not give sequence values back on rollback.
                    [(e.kind, e.at, _without_ids(e.detail)) for e in q.events if e.case_id > first_case],
                )
            )
            await session.rollback()
    assert snapshots[0] == snapshots[1] and snapshots[0][0]


async def test_the_demo_seeds_quickly(settings, engine):
    """Most of `family-hotline demo` is hashing eight passwords; the quarter itself is quick."""
    assert await seed_demo(settings)
    async with create_sessionmaker(engine)() as session:
        staff = {user.username: user for user in await _all(session, StaffUser)}
        units = await _all(session, OrgUnit)
        started = datetime.now(UTC)
        await seed_quarter(session, settings, units=units, staff=staff)
        elapsed = datetime.now(UTC) - started
        await session.rollback()
    assert elapsed < timedelta(seconds=3)


async def test_demo_logins_open_the_seeded_cases_within_their_unit(settings, engine, client):
    """The pages that exist today render the seeded quarter; the district's supervisor sees only the
    district's cases, and a city case is "not found" for them."""
    assert await seed_demo(settings)
    async with create_sessionmaker(engine)() as session:
        q = await Quarter().load(session)
    district_unit = q.staff["xihu-supervisor"].unit_id
    # The newest of each unit: the list shows the newest first, a page at a time.
    newest = sorted(q.cases.values(), key=lambda case: case.created_at, reverse=True)
    city_case = next(case for case in newest if case.unit_id != district_unit)
    district_case = next(case for case in newest if case.unit_id == district_unit)
    for username, sees_city in (("supervisor", True), ("xihu-supervisor", False)):
        client.cookies.clear()
        response = await post_form(
            client, "/login", {"username": username, "password": DEMO_PASSWORD}, follow_redirects=False
        )
        assert response.status_code == 303, response.text
        listing = await client.get("/hotline/cases")
        assert listing.status_code == 200
        assert (city_case.number in listing.text) is sees_city and district_case.number in listing.text
        assert (await client.get(f"/hotline/cases/{district_case.number}")).status_code == 200
        assert (await client.get(f"/hotline/cases/{city_case.number}")).status_code == (
            200 if sees_city else 404
        )
