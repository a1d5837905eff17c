"""The demo's quarter of case work: about three dozen cases over the last 90 days in both units and on
both lines, with their calls, triage, mandatory reports, referrals to agencies, tasks, help plans,
timelines and alerts, written directly as rows (the services that will write them in production are
being built alongside this seeding).

Every row keeps the rules its table carries: status changes follow `CASE_TRANSITIONS`,
`REFERRAL_TRANSITIONS` and `TASK_TRANSITIONS`, each one with its timeline entry; rows belong to their
case's unit; free text is encrypted under the contexts of `hotline.cipher_contexts`. Times are laid out
relative to the moment of seeding, so the supervision board always shows red, amber and green. The same
seed and the same moment give the same quarter (apart from ciphertext nonces and link tokens, which
must stay secret).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from app.demo_quarter_stories import AGENCIES, CASES, PHONES, AgencySpec, CaseSpec, ReferralSpec
from booking.tokens import new_token, token_hash
from core.accounts import StaffUser
from core.db import AsyncSession, utcnow
from core.privacy import FieldCipher, phone_index
from core.settings import Settings
from core.units import OrgUnit
from hotline import cipher_contexts as ctx
from hotline.agencies import normalize_contact_phone
from hotline.alerts import supervisors_over
from hotline.case_events import record_event
from hotline.case_numbers import allocate_case_number
from hotline.case_terms import (
    REFERRAL_TRANSITIONS,
    TASK_KINDS,
    MandatoryReportStatus,
    ReferralStatus,
    RiskLevel,
    TaskKind,
    TaskStatus,
)
from hotline.casework_models import Agency, ChildFlag, HelpPlan, MandatoryReport, Referral, StaffAlert, Task
from hotline.models import Call, ReferralCase
from hotline.taxonomy import CASE_TRANSITIONS, CaseStatus

__all__ = ["SEED", "SeededQuarter", "seed_quarter"]

SEED = 2026
# As hotline.mandatory_reports writes them (its REPORT_ALERT_KIND and REPORT_ALERT_TEXT, translated in
# its catalogue): an alert names the case number only.
REPORT_ALERT_KIND = "mandatory_report.new"
REPORT_ALERT_TEXT = "Case {number} needs a mandatory report to the police"
_OPEN_REFERRAL = frozenset(
    {ReferralStatus.SENT, ReferralStatus.ACKNOWLEDGED, ReferralStatus.FEEDBACK, ReferralStatus.RETURNED}
)
# The agency's steps before a referral reaches each status, after it was sent.
_REFERRAL_STEPS: dict[ReferralStatus, tuple[ReferralStatus, ...]] = {
    ReferralStatus.SENT: (),
    ReferralStatus.ACKNOWLEDGED: (ReferralStatus.ACKNOWLEDGED,),
    ReferralStatus.FEEDBACK: (ReferralStatus.ACKNOWLEDGED, ReferralStatus.FEEDBACK),
    ReferralStatus.RETURNED: (ReferralStatus.ACKNOWLEDGED, ReferralStatus.FEEDBACK, ReferralStatus.RETURNED),
    ReferralStatus.CLOSED: (ReferralStatus.ACKNOWLEDGED, ReferralStatus.FEEDBACK, ReferralStatus.CLOSED),
    ReferralStatus.DECLINED: (ReferralStatus.ACKNOWLEDGED, ReferralStatus.DECLINED),
    ReferralStatus.REVOKED: (ReferralStatus.REVOKED,),
}
_CALL_BACK_RISKS = (RiskLevel.HIGH, RiskLevel.CRITICAL)
# Who takes each step: the agency through its link, the owner, or a supervisor (revocation); the staff's
# acceptance of the feedback is the step to "closed".
_AGENCY_STEPS = frozenset({ReferralStatus.ACKNOWLEDGED, ReferralStatus.FEEDBACK, ReferralStatus.DECLINED})
_STEP_EVENTS = {ReferralStatus.CLOSED: "referral.accepted"}
_SETTLED_REFERRAL = frozenset({ReferralStatus.CLOSED, ReferralStatus.DECLINED, ReferralStatus.REVOKED})


@dataclass(frozen=True)
class SeededQuarter:
    cases: int
    referrals: int
    # One referral that is waiting for its agency: the link the agency's SMS would carry.
    agency_link_path: str
    agency_link_case: str
    agency_name: str


@dataclass(frozen=True)
class _Clock:
    now: datetime
    zone: ZoneInfo

    @property
    def today(self) -> date:
        return self.now.astimezone(self.zone).date()

    def local(self, day: date, hour: float) -> datetime:
        return (datetime.combine(day, time()) + timedelta(hours=hour)).replace(tzinfo=self.zone)

    def end_of_day(self, day: date) -> datetime:
        return datetime.combine(day, time(23, 59, 59), tzinfo=self.zone)

    def past(self, at: datetime) -> datetime:
        """Nothing in a story happens later than a minute ago."""
        return min(at, self.now - timedelta(minutes=1))

    def opened(self, days_back: int, hour: float) -> datetime:
        at = min(self.local(self.today - timedelta(days=days_back), hour), self.now - timedelta(minutes=20))
        # A case opened "today" stays today's even just after midnight: its report is due tonight.
        return max(at, self.local(self.today, 0)) if days_back == 0 else at


def _working_day(day: date) -> bool:
    return day.weekday() < 5  # weekends only: the demo does not carry the holiday calendar


def _shift_working_days(day: date, count: int) -> date:
    """`count` working days after `day` (before it when negative)."""
    step = timedelta(days=1 if count >= 0 else -1)
    for _ in range(abs(count)):
        day += step
        while not _working_day(day):
            day += step
    return day


def _to_working_day(day: date, *, later: bool) -> date:
    while not _working_day(day):
        day += timedelta(days=1 if later else -1)
    return day


def _agency_label(agency: Agency) -> str:
    """Who a step through the agency's link is attributed to, as hotline.agency_link names it."""
    return f"agency:{agency.name}"[:120]


def _age_band(age: int) -> str:
    return "0-5" if age <= 5 else "6-11" if age <= 11 else "12-14" if age <= 14 else "15-17"


def _school_stage(age: int) -> str:
    return "preschool" if age <= 5 else "primary" if age <= 11 else "junior" if age <= 14 else "senior"


@dataclass
class _Seeding:
    session: AsyncSession
    cipher: FieldCipher
    settings: Settings
    clock: _Clock
    rng: random.Random
    units: list[OrgUnit]
    staff: dict[str, StaffUser]
    agencies: dict[str, Agency]  # by AgencySpec.key
    agency_specs: dict[int, AgencySpec]  # agency id → its spec: the contact who signs, their phone

    def mobile(self) -> str:
        return f"+861{self.rng.choice('3589')}{self.rng.randrange(10**9):09d}"

    def supervisor_of(self, unit: int) -> StaffUser:
        unit_id = self.units[unit].id
        return next(
            user for user in self.staff.values() if user.role == "supervisor" and user.unit_id == unit_id
        )

    def report_due(self, arose_at: datetime) -> datetime:
        hours = self.settings.mandatory_report_deadline_hours
        if hours:
            return arose_at + timedelta(hours=hours)
        return self.clock.end_of_day(arose_at.astimezone(self.clock.zone).date())


@dataclass
class _ReferralPlan:
    spec: ReferralSpec
    agency: Agency
    sent_at: datetime
    due_on: date
    steps: list[tuple[ReferralStatus, datetime]]

    @property
    def settled_at(self) -> datetime | None:
        return None if self.spec.status in _OPEN_REFERRAL else self.steps[-1][1]


class _CaseWriter:
    """One story, from the first call to now: the case row, then everything on it in time order."""

    def __init__(self, seeding: _Seeding, spec: CaseSpec) -> None:
        self.s = seeding
        self.spec = spec
        self.owner = seeding.staff[spec.owner]
        self.unit_id = seeding.units[spec.unit].id or 0
        self.opened_at = seeding.clock.opened(*spec.opened)
        self.status = CaseStatus.ACCEPTED
        self.case_id = 0  # once the case row is written
        self.events: list[tuple[datetime, int, dict[str, Any]]] = []
        self.rows: list[Any] = []
        self.tokens: dict[int, str] = {}  # referral id → its link token, for the printed link only

    def event(
        self,
        at: datetime,
        kind: str,
        *,
        actor: StaffUser | None = None,
        actor_label: str | None = None,
        detail: dict[str, Any] | None = None,
        text: str | None = None,
    ) -> None:
        """A timeline entry, by the case's owner unless someone else is named."""
        if actor is None and actor_label is None:
            actor = self.owner
        fields = {
            "kind": kind,
            "actor": actor,
            "actor_label": actor_label,
            "detail": detail or {},
            "text": text,
        }
        self.events.append((self.s.clock.past(at), len(self.events), fields))

    def move(
        self,
        to: CaseStatus,
        at: datetime,
        *,
        text: str | None = None,
        by: dict[str, Any] | None = None,
        **detail: Any,
    ) -> None:
        """A status change; `by` names who made it when not the owner (actor or actor_label)."""
        CASE_TRANSITIONS.check(self.status, to)
        detail = {"from": self.status.value, "to": to.value, **detail}
        self.event(at, "status", detail=detail, text=text, **(by or {}))
        self.status = to

    async def write(self) -> tuple[ReferralCase, list[Referral]]:
        """The case and its referrals (their link tokens in `self.tokens`)."""
        spec, cipher = self.spec, self.s.cipher
        number = await allocate_case_number(
            self.s.session, line=spec.line, at=self.opened_at, timezone=self.s.settings.site_timezone
        )
        case = ReferralCase(
            number=number,
            line=spec.line,
            unit_id=self.unit_id,
            category=spec.category,
            urgency=spec.urgency,
            child_age_band=_age_band(spec.child.age),
            created_by_id=self.owner.id or 0,
            created_at=self.opened_at,
            updated_at=self.opened_at,
            owner_id=self.owner.id,
            child_sex=spec.child.sex,
            child_age=spec.child.age,
            child_school_stage=spec.child.school_stage or _school_stage(spec.child.age),
            child_district=spec.child.district,
            child_name_ciphertext=cipher.encrypt_optional(spec.child.name, context=ctx.CASE_CHILD_NAME),
        )
        self.s.session.add(case)
        await self.s.session.flush()
        case_id = self.case_id = case.id or 0
        self.rows += [ChildFlag(case_id=case_id, flag=flag) for flag in spec.flags]
        self._calls(case_id)
        await self._report(case)
        self._triage(case)
        plans = self._referral_plans()
        # Referral steps first: at equal times the timeline shows the step, then the status it caused.
        referrals = await self._referrals(case_id, plans)
        self._statuses(plans)
        self._tasks()
        self._plan()
        self._closure(case)
        if self.status != spec.status:
            raise ValueError(f"demo case {spec.key}: the story ends {self.status}, not {spec.status}")
        case.status = self.status
        self.s.session.add_all(self.rows)
        await self.s.session.flush()  # task ids, for the entries of tasks done
        self.events.sort(key=lambda entry: (entry[0], entry[1]))
        for at, _, fields in self.events:
            detail = {
                key: value.id if isinstance(value, Task) else value for key, value in fields["detail"].items()
            }
            record_event(self.s.session, cipher, case_id=case_id, at=at, **{**fields, "detail": detail})
        case.updated_at = max([self.opened_at, *(at for at, _, _ in self.events)])
        return case, referrals

    def _calls(self, case_id: int) -> None:
        previous: str | None = None
        for call in self.spec.calls:
            phone = None if call.phone is None else self._phone(call.phone, previous)
            previous = phone or previous
            self.rows.append(
                Call(
                    case_id=case_id,
                    unit_id=self.unit_id,
                    line=self.spec.line,
                    caller_type=call.caller_type,
                    category=self.spec.category,
                    urgency=self.spec.urgency,
                    summary_ciphertext=self.s.cipher.encrypt(call.summary, context=ctx.CALL_SUMMARY),
                    caller_phone_ciphertext=self.s.cipher.encrypt_optional(
                        phone, context=ctx.CALL_CALLER_PHONE
                    ),
                    caller_phone_index=phone_index(self.s.cipher, phone) if phone else None,
                    operator_id=self.owner.id or 0,
                    received_at=self.s.clock.past(self.opened_at + timedelta(hours=call.after_hours)),
                )
            )

    def _phone(self, key: str, previous: str | None) -> str:
        if key == "same" and previous is not None:
            return previous
        if key == "new":
            return self.s.mobile()
        return "+86" + PHONES.get(key, key)

    async def _report(self, case: ReferralCase) -> None:
        report_spec = self.spec.report
        if report_spec is None:
            return
        recorded = report_spec.recorded
        report = MandatoryReport(
            case_id=case.id or 0,
            unit_id=self.unit_id,
            situations=",".join(report_spec.situations),
            trigger=f"category:{self.spec.category}",
            created_at=self.opened_at,
            due_at=self.s.report_due(self.opened_at),
        )
        # Opened by the call that showed the duty, in its transaction: the operator who took it.
        self.event(
            self.opened_at,
            "report.opened",
            detail={"trigger": report.trigger, "situations": list(report_spec.situations)},
        )
        if recorded is not None:
            at = self.opened_at + timedelta(hours=recorded.after_hours)
            report.status = MandatoryReportStatus.RECORDED
            report.police_unit = recorded.police_unit
            report.channel = recorded.channel
            report.reported_at = at - timedelta(minutes=40)
            report.receipt_number = f"JJ{at:%Y%m%d}{self.s.rng.randrange(10**4):04d}"
            report.police_response_ciphertext = self.s.cipher.encrypt(
                recorded.response, context=ctx.MANDATORY_REPORT_POLICE_RESPONSE
            )
            report.recorded_by_id = self.owner.id
            report.recorded_at = at
            self.event(at, "report.recorded", detail={"channel": recorded.channel, "with_response": True})
        self.s.session.add(report)
        await self.s.session.flush()
        for supervisor in await supervisors_over(self.s.session, self.unit_id):
            self.rows.append(
                StaffAlert(
                    recipient_id=supervisor.id or 0,
                    case_id=case.id,
                    kind=REPORT_ALERT_KIND,
                    message=REPORT_ALERT_TEXT,
                    params=json.dumps({"number": case.number}),
                    dedupe_key=f"report.new:{report.id}",
                    created_at=self.opened_at,
                    read_at=report.recorded_at,
                )
            )

    def _triage(self, case: ReferralCase) -> None:
        child = self.spec.child
        changed = ["age", "age_band", "district", "school_stage", "sex"] + (["name"] if child.name else [])
        first_look = self.opened_at + timedelta(hours=self.spec.risk[0][0] if self.spec.risk else 0.5)
        self.event(first_look, "child", detail={"changed": changed + (["flags"] if self.spec.flags else [])})
        level = RiskLevel.UNASSESSED
        for hours, new_level, reason in self.spec.risk:
            at = self.opened_at + timedelta(hours=hours)
            self.event(at, "risk", detail={"from": level.value, "to": new_level.value}, text=reason)
            if new_level in _CALL_BACK_RISKS and level not in _CALL_BACK_RISKS:
                # The rule: a high or critical risk means a call back within 24 hours. Cases still
                # only accepted have not had theirs yet.
                callback = self.task(
                    TaskKind.CALLBACK, TASK_KINDS[TaskKind.CALLBACK], at + timedelta(hours=24), created_at=at,
                    rule_key="callback:risk",
                )  # fmt: skip
                if self.spec.status != CaseStatus.ACCEPTED:
                    self.finish(callback, at + timedelta(hours=4), "已回电，孩子当前安全，已告知求助途径。")
            level = new_level
            case.risk_level = new_level
            case.risk_reason_ciphertext = self.s.cipher.encrypt(reason, context=ctx.CASE_RISK_REASON)

    def _referral_plans(self) -> list[_ReferralPlan]:
        clock, plans = self.s.clock, []
        for spec in self.spec.referrals:
            agency = self.s.agencies[spec.agency]
            steps = _REFERRAL_STEPS[spec.status]
            if spec.status in _OPEN_REFERRAL:
                # Count back from the due day the board should show, by the agency's feedback days.
                target = clock.today + timedelta(days=spec.due_in_days)
                due_on = (
                    target if spec.due_in_days == 0 else _to_working_day(target, later=spec.due_in_days > 0)
                )
                sent_on = _shift_working_days(due_on, -agency.feedback_days)
                sent_at = clock.local(sent_on, 9.5 + self.s.rng.random() * 2)
                end = clock.now - timedelta(hours=1)
                times = [sent_at + (end - sent_at) * (n + 1) / (len(steps) + 1) for n in range(len(steps))]
            else:
                sent_at = self.opened_at + timedelta(days=spec.sent_after_days)
                settled = self.opened_at + timedelta(days=spec.settled_after_days)
                due_on = _shift_working_days(sent_at.astimezone(clock.zone).date(), agency.feedback_days)
                times = [sent_at + (settled - sent_at) * (n + 1) / len(steps) for n in range(len(steps))]
            if not self.opened_at + timedelta(hours=3) <= sent_at < clock.now - timedelta(hours=1):
                raise ValueError(
                    f"demo case {self.spec.key}: its referral to {agency.name} falls outside the case"
                )
            plans.append(_ReferralPlan(spec, agency, sent_at, due_on, list(zip(steps, times, strict=True))))
        return plans

    def _statuses(self, plans: list[_ReferralPlan]) -> None:
        """The case's status follows its work as the services move it: in progress once triaged,
        referred when a referral goes out, follow-up when an agency reports back; the owner takes it
        back in hand when the last referral out was declined or revoked."""
        if self.spec.status == CaseStatus.ACCEPTED:
            return
        self.move(CaseStatus.IN_PROGRESS, self.opened_at + timedelta(hours=2))
        points = [(plan.sent_at, 0, ReferralStatus.SENT, plan) for plan in plans]
        points += [(at, 1, step, plan) for plan in plans for step, at in plan.steps]
        out = 0
        for at, _, step, plan in sorted(points, key=lambda point: (point[0], point[1])):
            if step == ReferralStatus.SENT:
                out += 1
                if self.status != CaseStatus.REFERRED:
                    self.move(CaseStatus.REFERRED, at, why="referral")
            elif step == ReferralStatus.FEEDBACK and self.status == CaseStatus.REFERRED:
                self.move(
                    CaseStatus.FOLLOW_UP, at, by={"actor_label": _agency_label(plan.agency)}, why="referral"
                )
            elif step in _SETTLED_REFERRAL:
                out -= 1
                if out == 0 and step != ReferralStatus.CLOSED and self.status == CaseStatus.REFERRED:
                    self.move(CaseStatus.IN_PROGRESS, at + timedelta(minutes=30))
        if not plans and self.spec.status == CaseStatus.FOLLOW_UP:
            self.move(CaseStatus.FOLLOW_UP, self.opened_at + timedelta(days=self.spec.follow_up_after_days))

    async def _referrals(self, case_id: int, plans: list[_ReferralPlan]) -> list[Referral]:
        cipher, referrals = self.s.cipher, []
        for plan in plans:
            spec, agency = plan.spec, plan.agency
            token = new_token()
            referral = Referral(
                case_id=case_id,
                unit_id=self.unit_id,
                agency_id=agency.id or 0,
                status=spec.status,
                urgency=self.spec.urgency,
                reason_ciphertext=cipher.encrypt(spec.reason, context=ctx.REFERRAL_REASON),
                request_ciphertext=cipher.encrypt(spec.request, context=ctx.REFERRAL_REQUEST),
                token_hash=token_hash(token),
                sent_by_id=self.owner.id or 0,
                sent_at=plan.sent_at,
                due_on=plan.due_on,
                due_at=self.s.clock.end_of_day(plan.due_on),
                updated_at=plan.steps[-1][1] if plan.steps else plan.sent_at,
            )
            self.s.session.add(referral)
            await self.s.session.flush()
            referral_id = referral.id or 0
            self.tokens[referral_id] = token
            referrals.append(referral)
            detail = {"referral": referral_id, "agency": agency.id, "due_on": plan.due_on.isoformat()}
            # The link goes by SMS when the contact's number is a mobile (a landline gets it by hand).
            texted = self.s.agency_specs[agency.id or 0].contact_phone.startswith("1")
            detail |= {"texted": texted, "shares_phone": False}
            self.event(plan.sent_at, "referral.sent", detail=detail)
            check = self.task(
                TaskKind.REFERRAL_CHECK,
                f"Check the feedback from {agency.name}"[:200],
                referral.due_at,
                created_at=plan.sent_at,
                rule_key=f"referral:{referral_id}",
                referral_id=referral_id,
            )
            status = ReferralStatus.SENT
            for step, at in plan.steps:
                REFERRAL_TRANSITIONS.check(status, step)
                self._referral_step(referral, plan, status, step, at, check)
                status = step
        return referrals

    def _referral_step(
        self,
        referral: Referral,
        plan: _ReferralPlan,
        source: ReferralStatus,
        step: ReferralStatus,
        at: datetime,
        check: Task,
    ) -> None:
        spec, agency, cipher = plan.spec, plan.agency, self.s.cipher
        text: str | None = None
        actor = self.owner
        if step == ReferralStatus.ACKNOWLEDGED:
            referral.acknowledged_at = at
            referral.acknowledged_by = self.s.agency_specs[agency.id or 0].contact_name
        elif step == ReferralStatus.FEEDBACK:
            referral.feedback_ciphertext = cipher.encrypt_optional(
                spec.feedback, context=ctx.REFERRAL_FEEDBACK
            )
            referral.feedback_at = at
        elif step == ReferralStatus.DECLINED:
            referral.decline_reason_ciphertext = cipher.encrypt_optional(
                spec.note, context=ctx.REFERRAL_DECLINE_REASON
            )
        elif step == ReferralStatus.RETURNED:
            text = spec.note  # what more the agency is asked for
        elif step == ReferralStatus.REVOKED:
            text = spec.note  # why the supervisor withdrew it
            actor = self.s.supervisor_of(self.spec.unit)
        if step in _SETTLED_REFERRAL:
            referral.closed_at = at  # the link dies
            # The check task goes with the referral: done when its feedback is accepted, else cancelled.
            check.status = TaskStatus.DONE if step == ReferralStatus.CLOSED else TaskStatus.CANCELLED
            check.done_at = self.s.clock.past(at)
            check.done_by_id = None if step in _AGENCY_STEPS else actor.id
        kind = _STEP_EVENTS.get(step, f"referral.{step.value}")
        if step in _AGENCY_STEPS:
            detail: dict[str, Any] = {"referral": referral.id, "status": step.value}
            self.event(at, kind, actor_label=_agency_label(agency), detail=detail)
        else:
            detail = {"referral": referral.id, "from": source.value, "to": step.value}
            self.event(at, kind, actor=actor, detail=detail, text=text)

    def task(
        self,
        kind: TaskKind,
        title: str,
        due_at: datetime,
        *,
        created_at: datetime,
        rule_key: str | None = None,
        referral_id: int | None = None,
    ) -> Task:
        task = Task(
            case_id=self.case_id,
            unit_id=self.unit_id,
            kind=kind,
            title=title,
            owner_id=self.owner.id,
            due_at=due_at,
            rule_key=rule_key,
            referral_id=referral_id,
            created_by_id=None if rule_key else self.owner.id,
            created_at=self.s.clock.past(created_at),
        )
        self.rows.append(task)
        return task

    def finish(self, task: Task, at: datetime, note: str, result: str | None = None) -> None:
        at = self.s.clock.past(max(at, task.created_at))
        task.status, task.done_at, task.done_by_id, task.result = TaskStatus.DONE, at, self.owner.id, result
        task.note_ciphertext = self.s.cipher.encrypt(note, context=ctx.TASK_NOTE)
        # The task row is resolved to its id when the entries are written.
        self.event(
            at, "task.done", detail={"task": task, "task_kind": task.kind, "result": result}, text=note
        )

    def _tasks(self) -> None:
        now = self.s.clock.now
        for spec in self.spec.tasks:
            due = now + timedelta(hours=spec.due_in_hours)
            created = max(self.opened_at + timedelta(hours=1), min(due - timedelta(days=2), now))
            task = self.task(spec.kind, spec.title, due, created_at=created)
            if spec.done_note is not None:
                self.finish(task, due - timedelta(hours=2), spec.done_note)

    def _plan(self) -> None:
        spec = self.spec.plan
        if spec is None:
            return
        at = self.opened_at + timedelta(days=spec.after_days)
        review_on = self.s.clock.today + timedelta(days=spec.review_in_days)
        self.rows.append(
            HelpPlan(
                case_id=self.case_id,
                unit_id=self.unit_id,
                measures_ciphertext=self.s.cipher.encrypt(spec.measures, context=ctx.HELP_PLAN_MEASURES),
                responsible=spec.responsible,
                review_on=review_on,
                created_by_id=self.owner.id or 0,
                created_at=at,
                updated_at=at,
            )
        )
        self.event(at, "plan", detail={"created": True, "review_on": review_on.isoformat()})
        self.task(
            TaskKind.PLAN_REVIEW,
            TASK_KINDS[TaskKind.PLAN_REVIEW],
            self.s.clock.local(review_on + timedelta(days=1), 0),  # by the end of the review day
            created_at=at,
            rule_key=f"plan_review:{review_on.isoformat()}",
        )

    def _closure(self, case: ReferralCase) -> None:
        spec = self.spec.closure
        if spec is None:
            return
        closed_at = self.s.clock.now - timedelta(days=spec.days_ago)
        case.outcome = spec.outcome
        case.closing_summary_ciphertext = self.s.cipher.encrypt(
            spec.summary, context=ctx.CASE_CLOSING_SUMMARY
        )
        case.closed_at = closed_at
        self.move(CaseStatus.CLOSED, closed_at, text=spec.summary, outcome=spec.outcome, tasks_cancelled=0)
        # The rule: a satisfaction follow-up (满意度回访) within 7 days of closing.
        follow_up = self.task(
            TaskKind.SATISFACTION,
            TASK_KINDS[TaskKind.SATISFACTION],
            closed_at + timedelta(days=7),
            created_at=closed_at,
            rule_key="satisfaction",
        )
        if spec.satisfaction is not None:
            note = spec.satisfaction_note or "已电话回访来电人。"
            self.finish(follow_up, closed_at + timedelta(days=2, hours=3), note, spec.satisfaction)


async def _add_agencies(seeding: _Seeding) -> None:
    cipher = seeding.cipher
    for spec in AGENCIES:
        agency = Agency(
            unit_id=seeding.units[spec.unit].id or 0,
            name=spec.name,
            kind=spec.kind,
            district=spec.district,
            contact_name_ciphertext=cipher.encrypt(spec.contact_name, context=ctx.AGENCY_CONTACT_NAME),
            # Stored as the agency form stores it (a mobile in E.164), so referrals text the mobiles.
            contact_phone_ciphertext=cipher.encrypt(
                normalize_contact_phone(spec.contact_phone), context=ctx.AGENCY_CONTACT_PHONE
            ),
            feedback_days=spec.feedback_days,
            created_at=seeding.clock.now - timedelta(days=120),
        )
        seeding.session.add(agency)
        await seeding.session.flush()
        seeding.agencies[spec.key] = agency
        seeding.agency_specs[agency.id or 0] = spec


async def seed_quarter(
    session: AsyncSession,
    settings: Settings,
    *,
    units: list[OrgUnit],
    staff: dict[str, StaffUser],
    now: datetime | None = None,
    seed: int = SEED,
) -> SeededQuarter:
    """Write the quarter in the caller's transaction (the caller commits). `units` are the demo's city
    and district; `staff` the demo accounts by username."""
    now = now or utcnow()
    seeding = _Seeding(
        session=session,
        cipher=FieldCipher(settings.data_key),
        settings=settings,
        clock=_Clock(now, ZoneInfo(settings.site_timezone)),
        rng=random.Random(seed),
        units=units,
        staff=staff,
        agencies={},
        agency_specs={},
    )
    await _add_agencies(seeding)
    writers = sorted((_CaseWriter(seeding, spec) for spec in CASES), key=lambda writer: writer.opened_at)
    link: tuple[str, str, str] | None = None
    referral_count = 0
    for writer in writers:
        case, referrals = await writer.write()
        referral_count += len(referrals)
        for referral in referrals:
            waiting = referral.status == ReferralStatus.SENT and referral.due_at > now
            if link is None and waiting:
                agency_name = next(a.name for a in seeding.agencies.values() if a.id == referral.agency_id)
                link = (f"/r/{writer.tokens[referral.id or 0]}", case.number, agency_name)
        await session.flush()
    assert link is not None, "the stories include a referral still waiting for its agency"
    return SeededQuarter(len(writers), referral_count, *link)
