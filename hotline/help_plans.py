"""一人一策: the help plan of a child at high or critical risk — the measures, who carries them (the lead
helper, 主帮扶人, or a responsible unit) and when the plan is next reviewed. One plan per case, written
and then revised; each review date is a task for the case's owner."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select, update

from core.accounts import StaffUser
from core.db import AsyncSession, utcnow
from core.errors import FormInvalid
from core.i18n import N_
from core.privacy import FieldCipher
from hotline.case_acts import (
    CHANGED_MEANWHILE,
    audit_case_act,
    open_case_for_change,
    transaction,
    update_case_row,
)
from hotline.case_events import record_event
from hotline.case_facts import PLAN_MEASURES_CONTEXT
from hotline.case_terms import TASK_KINDS, TaskKind, TaskStatus
from hotline.casework_models import HelpPlan, Task
from hotline.form_text import clean_text, written_text
from hotline.models import ReferralCase
from hotline.tasks import open_task
from hotline.triage import HIGH_RISK_LEVELS

__all__ = ["MEASURES_MAX_LENGTH", "REVIEW_WITHIN_DAYS", "HelpPlanForm", "review_rule", "save_help_plan"]

MEASURES_MAX_LENGTH = 4000
RESPONSIBLE_MAX_LENGTH = 120
REVIEW_WITHIN_DAYS = 366  # a plan is reviewed at least once a year


@dataclass(frozen=True)
class HelpPlanForm:
    measures: str | None = None
    responsible: str | None = None  # the lead helper (主帮扶人) or the responsible unit
    review_on: str | None = None  # YYYY-MM-DD, in the site's calendar


def review_rule(review_on: date) -> str:
    """The rule key of the review task for one date: saving the plan again with it makes no second task."""
    return f"plan_review:{review_on.isoformat()}"


def _review_date(raw: str | None, today: date) -> date | None:
    try:
        wanted = date.fromisoformat(clean_text(raw))
    except ValueError:
        return None
    return wanted if today <= wanted <= today + timedelta(days=REVIEW_WITHIN_DAYS) else None


def _end_of_day(day: date, timezone: str) -> datetime:
    """A review is due by the end of its day where the hotline is."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=ZoneInfo(timezone)).astimezone(
        ZoneInfo("UTC")
    )


async def save_help_plan(
    session: AsyncSession,
    cipher: FieldCipher,
    *,
    number: str,
    form: HelpPlanForm,
    actor: StaffUser,
    timezone: str,
    client_ip: str | None = None,
    now: datetime | None = None,
) -> HelpPlan:
    """Write the case's plan, or revise it. Only for a child at high or critical risk. The review date
    opens a review task (rule `plan_review:<date>`, for the case's owner); a review task for a date the
    plan no longer has is cancelled."""
    now = now or utcnow()
    async with transaction(session):
        case = await open_case_for_change(session, number, actor)
        if case.risk_level not in HIGH_RISK_LEVELS:
            raise FormInvalid({"case": N_("A help plan is for a child at high or critical risk.")})
        errors: dict[str, str] = {}
        measures = written_text(
            errors,
            "measures",
            form.measures,
            max_length=MEASURES_MAX_LENGTH,
            missing=N_("Write the measures of the plan."),
            too_long=N_("The measures are too long: at most 4000 characters."),
        )
        responsible = " ".join(clean_text(form.responsible).split())
        if not responsible or len(responsible) > RESPONSIBLE_MAX_LENGTH:
            errors["responsible"] = N_("Name the lead helper or responsible unit (at most 120 characters).")
        review_on = _review_date(form.review_on, now.astimezone(ZoneInfo(timezone)).date())
        if review_on is None:
            errors["review_on"] = N_("Choose a review date from today to a year ahead.")
        if errors:
            raise FormInvalid(errors)
        assert review_on is not None  # narrowed by the check above
        if not await update_case_row(session, case, {"updated_at": now}):
            raise FormInvalid({"case": CHANGED_MEANWHILE})
        plan, created = await _write_plan(
            session,
            case,
            measures_ciphertext=cipher.encrypt(measures, context=PLAN_MEASURES_CONTEXT),
            responsible=responsible,
            review_on=review_on,
            actor=actor,
            now=now,
        )
        await _schedule_review(session, case, review_on, actor=actor, timezone=timezone)
        detail = {"created": created, "review_on": review_on.isoformat()}
        record_event(session, cipher, case_id=case.id or 0, kind="plan", actor=actor, detail=detail, at=now)
        audit_case_act(session, actor, "case.plan", case, client_ip=client_ip, detail=detail)
    return plan


async def _write_plan(
    session: AsyncSession,
    case: ReferralCase,
    *,
    measures_ciphertext: str,
    responsible: str,
    review_on: date,
    actor: StaffUser,
    now: datetime,
) -> tuple[HelpPlan, bool]:
    """The plan row, new (True) or revised (False). Two first plans at once: the unique case id decides,
    and the loser revises the winner's plan."""
    query = select(HelpPlan).where(HelpPlan.case_id == case.id).execution_options(populate_existing=True)
    plan = (await session.exec(query)).first()
    if plan is None:
        plan = HelpPlan(
            case_id=case.id or 0,
            unit_id=case.unit_id,
            measures_ciphertext=measures_ciphertext,
            responsible=responsible,
            review_on=review_on,
            created_by_id=actor.id or 0,
            created_at=now,
            updated_at=now,
        )
        try:
            async with session.begin_nested():
                session.add(plan)
                await session.flush()
            return plan, True
        except IntegrityError:
            plan = (await session.exec(query)).one()
    plan.measures_ciphertext = measures_ciphertext
    plan.responsible = responsible
    plan.review_on = review_on
    plan.updated_at = now
    session.add(plan)
    await session.flush()
    return plan, False


async def _schedule_review(
    session: AsyncSession, case: ReferralCase, review_on: date, *, actor: StaffUser, timezone: str
) -> None:
    """One open review task, for the plan's date. Tasks for dates the plan no longer has are cancelled; a
    date chosen again after its task was cancelled gets a new task (`plan_review:<date>:<n>`), since the
    rule for that date has fired before."""
    rule = review_rule(review_on)

    def for_this_date(key: str | None) -> bool:
        return key == rule or (key or "").startswith(rule + ":")

    reviews = (
        await session.exec(
            select(Task.id, Task.rule_key, Task.status).where(
                col(Task.case_id) == case.id, col(Task.kind) == TaskKind.PLAN_REVIEW
            )
        )
    ).all()
    stale = [
        task_id for task_id, key, status in reviews if status == TaskStatus.OPEN and not for_this_date(key)
    ]
    if stale:
        await session.exec(
            update(Task)
            .where(col(Task.id).in_(stale), col(Task.status) == TaskStatus.OPEN)
            .values(status=TaskStatus.CANCELLED)
            .execution_options(synchronize_session=False)
        )
    if any(status == TaskStatus.OPEN and for_this_date(key) for _, key, status in reviews):
        return
    used = {key for _, key, _ in reviews}
    await open_task(
        session,
        case_id=case.id or 0,
        unit_id=case.unit_id,
        kind=TaskKind.PLAN_REVIEW,
        title=TASK_KINDS[TaskKind.PLAN_REVIEW],
        due_at=_end_of_day(review_on, timezone),
        owner_id=case.owner_id or actor.id,
        created_by_id=actor.id,
        rule_key=rule if rule not in used else f"{rule}:{len(reviews) + 1}",
    )
