"""A case's way through its states: 已受理 → 处理中 → 已转介 → 跟进中 → 已办结, and back to 处理中 when a
supervisor reopens it.

`CASE_TRANSITIONS` (hotline.taxonomy) is the one statement of which moves are legal; this module says
who may take which move and what each one does besides. Every move is a compare-and-set UPDATE on the
status it was read in, so two requests never both move a case, and it records who, when and why on the
case's timeline (a "status" event) and in the audit log, in the same transaction.

- `move_case` is the move other modules call (a referral sent moves the case to "referred"): False,
  never an error, when the case is not in a state the move starts from. It never closes or reopens.
- Closing (办结) needs an outcome and a summary, and is refused while a mandatory report is pending;
  it opens the satisfaction follow-up and cancels the case's other open tasks.
- Reopening is a supervisor's act, with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Exists
from sqlmodel import col, exists, func, select, update

from core.accounts import Role, StaffUser
from core.db import AsyncSession, utcnow
from core.errors import FormInvalid
from core.i18n import N_
from core.privacy import FieldCipher
from core.transitions import IllegalTransition
from hotline.case_acts import (
    CHANGED_MEANWHILE,
    audit_case_act,
    open_case_for_change,
    transaction,
    update_case_row,
)
from hotline.case_events import record_event
from hotline.case_facts import CLOSING_SUMMARY_CONTEXT
from hotline.case_terms import (
    CASE_OUTCOMES,
    TASK_KINDS,
    TASK_TRANSITIONS,
    MandatoryReportStatus,
    TaskKind,
    TaskStatus,
)
from hotline.case_views import find_case
from hotline.casework_models import MandatoryReport, Task
from hotline.form_text import clean_text, written_text
from hotline.mandatory_reports import pending_report_for_case
from hotline.models import OPEN_CASE_STATUSES, ReferralCase
from hotline.tasks import open_task
from hotline.taxonomy import CASE_TRANSITIONS, CaseStatus

__all__ = [
    "MANDATORY_REPORT_PENDING_MESSAGE",
    "REASON_MAX_LENGTH",
    "SATISFACTION_DAYS",
    "SUMMARY_MAX_LENGTH",
    "Closure",
    "Reopening",
    "StatusChange",
    "change_status",
    "close_case",
    "manual_targets",
    "move_case",
    "reopen_case",
]

SATISFACTION_DAYS = 7  # 满意度回访 within a week of closure (issue #7)
REASON_MAX_LENGTH = 1000
SUMMARY_MAX_LENGTH = 4000
MANDATORY_REPORT_PENDING_MESSAGE = N_(
    "This case cannot be closed while its mandatory report to the police is not recorded."
)

# A status-change request retries its compare-and-set this often when another request moved the case
# between its read and its write; past that it reports the contention instead of spinning.
_ATTEMPTS = 3


@dataclass(frozen=True)
class StatusChange:
    """A move by hand to in progress, referred or follow-up (closing and reopening have their own)."""

    status: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Closure:
    outcome: str | None = None  # CASE_OUTCOMES
    summary: str | None = None


@dataclass(frozen=True)
class Reopening:
    reason: str | None = None


def manual_targets(status: str) -> list[CaseStatus]:
    """The states a person may move a case in `status` to with a plain status change."""
    if status == CaseStatus.CLOSED:
        return []
    return [
        target
        for target in CaseStatus
        if target != CaseStatus.CLOSED and target != status and CASE_TRANSITIONS.allowed(status, target)
    ]


async def _current_status(session: AsyncSession, case_id: int) -> str | None:
    return (await session.exec(select(ReferralCase.status).where(col(ReferralCase.id) == case_id))).first()


async def _compare_and_set(
    session: AsyncSession,
    case: ReferralCase,
    sources: tuple[str, ...],
    values: dict[str, object],
    *conditions: ColumnElement[bool],
) -> str | None:
    """Move the case out of whichever of `sources` it is in now, while `conditions` hold: the status it
    left, or None when it is in none of them. The UPDATE names the status just read, so the recorded
    "from" is the true one even when another request moved the case a moment before."""
    for _ in range(_ATTEMPTS):
        current = await _current_status(session, case.id or 0)
        if current is None or current not in sources:
            return None
        if await update_case_row(
            session, case, values, col(ReferralCase.status) == current, *conditions, closed_too=True
        ):
            return current
        if conditions:
            return None  # the status held: a condition failed, which another read would not change
    raise FormInvalid({"case": CHANGED_MEANWHILE})


def _record_move(
    session: AsyncSession,
    cipher: FieldCipher,
    case: ReferralCase,
    *,
    source: str,
    target: str,
    action: str,
    actor: StaffUser | None,
    actor_label: str | None,
    reason: str | None,
    client_ip: str | None,
    now: datetime,
    extra: dict[str, str | int] | None = None,
) -> None:
    detail = {"from": source, "to": target, **(extra or {})}
    record_event(
        session,
        cipher,
        case_id=case.id or 0,
        kind="status",
        actor=actor,
        actor_label=actor_label,
        detail=detail,
        text=reason,
        at=now,
    )
    audit_case_act(session, actor, action, case, client_ip=client_ip, detail=detail, actor_label=actor_label)


async def move_case(
    session: AsyncSession,
    cipher: FieldCipher,
    case: ReferralCase,
    target: CaseStatus,
    *,
    actor: StaffUser | None = None,
    actor_label: str | None = None,
    reason: str | None = None,
    client_ip: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Move `case` to `target` (in progress, referred or follow-up) within the caller's transaction, with
    its timeline event and audit row; the caller commits. False, and nothing written, when the case is
    not in a state `CASE_TRANSITIONS` lets it leave for `target` (a closed case is in none).
    `actor` is the staff member, or None with `actor_label` for the system or an agency."""
    if target == CaseStatus.CLOSED:
        # A programming error, not a refusal: closure needs an outcome and a summary (`close_case`).
        raise IllegalTransition("referral case: close with close_case, not move_case")
    now = now or utcnow()
    # A move out of "closed" is a reopening, never a side effect of another move.
    sources = tuple(s for s in CASE_TRANSITIONS.sources_of(target) if s in OPEN_CASE_STATUSES)
    source = await _compare_and_set(session, case, sources, {"status": target, "updated_at": now})
    if source is None:
        return False
    _record_move(
        session,
        cipher,
        case,
        source=source,
        target=target,
        action="case.status",
        actor=actor,
        actor_label=actor_label,
        reason=reason,
        client_ip=client_ip,
        now=now,
    )
    return True


def _reason(raw: str | None, *, required: bool) -> str:
    errors: dict[str, str] = {}
    reason = written_text(
        errors,
        "reason",
        raw,
        max_length=REASON_MAX_LENGTH,
        missing=N_("Write the reason.") if required else None,
        too_long=N_("The reason is too long: at most 1000 characters."),
    )
    if errors:
        raise FormInvalid(errors)
    return reason


async def change_status(
    session: AsyncSession,
    cipher: FieldCipher,
    *,
    number: str,
    change: StatusChange,
    actor: StaffUser,
    client_ip: str | None = None,
    now: datetime | None = None,
) -> ReferralCase:
    """A person's move of an open case to one of `manual_targets`, with an optional reason."""
    async with transaction(session):
        case = await open_case_for_change(session, number, actor)
        wanted = clean_text(change.status)
        if wanted not in manual_targets(case.status):
            raise FormInvalid({"status": N_("This case cannot move to that status now.")})
        reason = _reason(change.reason, required=False)
        moved = await move_case(
            session,
            cipher,
            case,
            CaseStatus(wanted),
            actor=actor,
            reason=reason or None,
            client_ip=client_ip,
            now=now,
        )
        if not moved:
            raise FormInvalid({"case": CHANGED_MEANWHILE})
    return case


def _pending_report(case_id: Any) -> Exists:
    """SQL: the case (an id, or the case row's id column inside an UPDATE) has a pending report."""
    return exists().where(
        col(MandatoryReport.case_id) == case_id,
        col(MandatoryReport.status) == MandatoryReportStatus.PENDING,
    )


async def _satisfaction_rule_key(session: AsyncSession, case_id: int) -> str:
    """`satisfaction` for a case's first closure. A case closed again after a reopening gets a follow-up
    of its own (`satisfaction:2`, …): the first one's rule has already fired."""
    earlier = (
        await session.exec(
            select(func.count())
            .select_from(Task)
            .where(col(Task.case_id) == case_id, col(Task.kind) == TaskKind.SATISFACTION)
        )
    ).one()
    return "satisfaction" if not earlier else f"satisfaction:{earlier + 1}"


async def _cancel_open_tasks(session: AsyncSession, case_id: int, *, kind: TaskKind | None = None) -> int:
    """Cancel the case's open tasks (of one kind, or all); a task done meanwhile stays done."""
    query = update(Task).where(
        col(Task.case_id) == case_id, col(Task.status).in_(TASK_TRANSITIONS.sources_of(TaskStatus.CANCELLED))
    )
    if kind is not None:
        query = query.where(col(Task.kind) == kind)
    result = await session.exec(
        query.values(status=TaskStatus.CANCELLED).execution_options(synchronize_session=False)
    )
    return int(result.rowcount)


def _closure_fields(closure: Closure) -> tuple[str, str]:
    errors: dict[str, str] = {}
    outcome = clean_text(closure.outcome)
    if outcome not in CASE_OUTCOMES:
        errors["outcome"] = N_("Choose the outcome of the case.")
    summary = written_text(
        errors,
        "summary",
        closure.summary,
        max_length=SUMMARY_MAX_LENGTH,
        missing=N_("Write a closing summary: what was done and where the child stands now."),
        too_long=N_("The summary is too long: at most 4000 characters."),
    )
    if errors:
        raise FormInvalid(errors)
    return outcome, summary


async def close_case(
    session: AsyncSession,
    cipher: FieldCipher,
    *,
    number: str,
    closure: Closure,
    actor: StaffUser,
    client_ip: str | None = None,
    now: datetime | None = None,
) -> ReferralCase:
    """办结: record the outcome and the closing summary and close the case, in one transaction with the
    satisfaction follow-up (due in 7 days, for the case's owner) and the cancelling of its other open
    tasks. Refused (FormInvalid, nothing changed) without an outcome and a summary, and while the case
    has a mandatory report still pending — checked again inside the UPDATE, so a report cannot slip
    past between the check and the close."""
    now = now or utcnow()
    async with transaction(session):
        case = await open_case_for_change(session, number, actor)
        outcome, summary = _closure_fields(closure)
        if await pending_report_for_case(session, case.id or 0) is not None:
            raise FormInvalid({"case": MANDATORY_REPORT_PENDING_MESSAGE})
        values = {
            "status": CaseStatus.CLOSED,
            "outcome": outcome,
            "closing_summary_ciphertext": cipher.encrypt(summary, context=CLOSING_SUMMARY_CONTEXT),
            "closed_at": now,
            "updated_at": now,
        }
        source = await _compare_and_set(
            session, case, OPEN_CASE_STATUSES, values, ~_pending_report(ReferralCase.id)
        )
        if source is None:
            raise FormInvalid({"case": CHANGED_MEANWHILE})
        cancelled = await _cancel_open_tasks(session, case.id or 0)
        await open_task(
            session,
            case_id=case.id or 0,
            unit_id=case.unit_id,
            kind=TaskKind.SATISFACTION,
            title=TASK_KINDS[TaskKind.SATISFACTION],
            due_at=now + timedelta(days=SATISFACTION_DAYS),
            owner_id=case.owner_id or actor.id,
            created_by_id=actor.id,
            rule_key=await _satisfaction_rule_key(session, case.id or 0),
        )
        _record_move(
            session,
            cipher,
            case,
            source=source,
            target=CaseStatus.CLOSED,
            action="case.close",
            actor=actor,
            actor_label=None,
            reason=summary,
            client_ip=client_ip,
            now=now,
            extra={"outcome": outcome, "tasks_cancelled": cancelled},
        )
    return case


async def reopen_case(
    session: AsyncSession,
    cipher: FieldCipher,
    *,
    number: str,
    reopening: Reopening,
    actor: StaffUser,
    client_ip: str | None = None,
    now: datetime | None = None,
) -> ReferralCase:
    """A supervisor takes a closed case back to "in progress", with a reason. The outcome and summary are
    cleared from the case (the timeline keeps the closing event with its summary) and a satisfaction
    follow-up not yet made is cancelled: the case is not finished after all."""
    now = now or utcnow()
    async with transaction(session):
        case = await find_case(session, number, actor)
        if not actor.has_role(Role.SUPERVISOR):
            raise FormInvalid({"case": N_("Only a supervisor can reopen a case.")})
        if case.status != CaseStatus.CLOSED:
            raise FormInvalid({"case": N_("This case is not closed.")})
        reason = _reason(reopening.reason, required=True)
        values = {
            "status": CaseStatus.IN_PROGRESS,
            "outcome": None,
            "closing_summary_ciphertext": None,
            "closed_at": None,
            "updated_at": now,
        }
        if not await update_case_row(
            session, case, values, col(ReferralCase.status) == CaseStatus.CLOSED, closed_too=True
        ):
            raise FormInvalid({"case": CHANGED_MEANWHILE})
        await _cancel_open_tasks(session, case.id or 0, kind=TaskKind.SATISFACTION)
        _record_move(
            session,
            cipher,
            case,
            source=CaseStatus.CLOSED,
            target=CaseStatus.IN_PROGRESS,
            action="case.reopen",
            actor=actor,
            actor_label=None,
            reason=reason,
            client_ip=client_ip,
            now=now,
        )
    return case
