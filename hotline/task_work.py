"""Working on tasks (回访, checks, reviews): the viewer's open tasks, a case's tasks, and the acts on a
task — complete (a satisfaction follow-up with its result), add one by hand, cancel.

Status changes are conditional UPDATEs along TASK_TRANSITIONS, so two people completing the same task
at once complete it once; each change lands on the case's timeline in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, update
from sqlmodel import col, select

from core.accounts import Role, StaffUser
from core.db import AsyncSession
from core.errors import Conflict, FormInvalid, NotFound
from core.i18n import N_
from core.privacy import FieldCipher
from core.settings import Settings
from core.units import OrgUnit, get_visible, visible_to
from hotline import cipher_contexts
from hotline.case_events import record_event
from hotline.case_guard import require_open
from hotline.case_scope import line_in_scope, sees_line
from hotline.case_terms import SATISFACTION, TASK_TRANSITIONS, Light, TaskKind, TaskStatus
from hotline.casework_models import Task
from hotline.lights import light_of
from hotline.models import ReferralCase
from hotline.tasks import open_task

__all__ = [
    "MY_TASKS_LIMIT",
    "TASK_NOTE_CONTEXT",
    "TaskRow",
    "add_task",
    "amber_window",
    "assignable_owners",
    "cancel_task",
    "case_tasks",
    "complete_task",
    "count_my_open_tasks",
    "my_open_tasks",
    "parse_local_due",
]

# Associated data of a task's encrypted note (see core.privacy).
TASK_NOTE_CONTEXT = cipher_contexts.TASK_NOTE

# "My tasks" shows this many, most overdue first, and says how many there are in all: each row carries
# its own form, and an operator works from the top of the list.
MY_TASKS_LIMIT = 50

TITLE_MAX = 200
NOTE_MAX = 2000


def amber_window(settings: Settings) -> timedelta:
    return timedelta(hours=settings.light_amber_hours)


@dataclass(frozen=True)
class TaskRow:
    id: int
    case_number: str
    kind: str
    title: str
    due_at: datetime
    status: str
    light: Light | None  # None once done or cancelled: a finished task has no light
    owner_id: int | None
    owner_name: str  # "" when nobody owns it
    result: str | None = None
    done_at: datetime | None = None


def _row(task: Task, number: str, owner_name: str | None, now: datetime, amber: timedelta) -> TaskRow:
    return TaskRow(
        id=task.id or 0,
        case_number=number,
        kind=task.kind,
        title=task.title,
        due_at=task.due_at,
        status=task.status,
        light=light_of(task.due_at, now, amber) if task.status == TaskStatus.OPEN else None,
        owner_id=task.owner_id,
        owner_name=owner_name or "",
        result=task.result,
        done_at=task.done_at,
    )


async def my_open_tasks(
    session: AsyncSession, *, viewer: StaffUser, now: datetime, amber: timedelta
) -> list[TaskRow]:
    """The viewer's open tasks in scope, earliest due first: red, then amber, then green. The query
    walks ix_case_task_owner_status_due in order and stops at the limit."""
    rows = await session.exec(
        select(Task, ReferralCase.number)
        .join(ReferralCase, col(ReferralCase.id) == Task.case_id)
        .where(
            Task.owner_id == viewer.id,
            Task.status == TaskStatus.OPEN,
            visible_to(Task.unit_id, viewer.unit_id),
            line_in_scope(viewer),
        )
        .order_by(col(Task.due_at), col(Task.id))
        .limit(MY_TASKS_LIMIT)
    )
    return [_row(task, number, viewer.display_name, now, amber) for task, number in rows.all()]


async def count_my_open_tasks(session: AsyncSession, viewer: StaffUser) -> int:
    """All the viewer's open tasks in scope (a range of ix_case_task_owner_status_due); for someone
    limited to one line, joined to each task's case by its key for the line."""
    query = (
        select(func.count())
        .select_from(Task)
        .where(
            Task.status == TaskStatus.OPEN,
            visible_to(Task.unit_id, viewer.unit_id),
        )
    )
    if viewer.line:
        query = query.join(ReferralCase, col(ReferralCase.id) == Task.case_id).where(line_in_scope(viewer))
    return int((await session.exec(query)).one())


async def case_tasks(
    session: AsyncSession, case: ReferralCase, *, now: datetime, amber: timedelta
) -> list[TaskRow]:
    """Every task of a case: open ones first (earliest due first), then the finished ones, latest first."""
    rows = await session.exec(
        select(Task, StaffUser.display_name)
        .outerjoin(StaffUser, col(StaffUser.id) == Task.owner_id)
        .where(Task.case_id == case.id)
        .order_by(col(Task.due_at), col(Task.id))
    )
    tasks = [_row(task, case.number, name, now, amber) for task, name in rows.all()]
    still_open = [task for task in tasks if task.status == TaskStatus.OPEN]
    finished = sorted(
        (task for task in tasks if task.status != TaskStatus.OPEN),
        key=lambda task: task.done_at or task.due_at,
        reverse=True,
    )
    return still_open + finished


async def _task_in_scope(session: AsyncSession, task_id: int, viewer: StaffUser) -> tuple[Task, ReferralCase]:
    task = await get_visible(session, Task, task_id, viewer.unit_id)
    case = await session.get(ReferralCase, task.case_id) if task is not None else None
    if task is None or case is None or not sees_line(viewer, case.line):
        raise NotFound(N_("No task has this number."))
    return task, case


async def _move(session: AsyncSession, task: Task, target: TaskStatus, values: dict[str, object]) -> None:
    """The conditional UPDATE: only from a status the table allows, so a second request moves nothing."""
    moved = await session.exec(
        update(Task)
        .where(col(Task.id) == task.id, col(Task.status).in_(TASK_TRANSITIONS.sources_of(target)))
        .values(status=target, **values)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        await session.rollback()
        raise Conflict(N_("This task is already done or cancelled."))


async def complete_task(
    session: AsyncSession,
    cipher: FieldCipher,
    *,
    task_id: int,
    actor: StaffUser,
    note: str,
    result: str | None,
    now: datetime,
) -> Task:
    """Mark a task done, with an optional note (encrypted) and, for a satisfaction follow-up, the
    caller's answer (required). Commits."""
    task, case = await _task_in_scope(session, task_id, actor)
    # The satisfaction follow-up exists only after closure, so it alone may be completed on a closed case.
    if task.kind != TaskKind.SATISFACTION:
        require_open(case)
    errors: dict[str, str] = {}
    clean_note = note.strip()
    if len(clean_note) > NOTE_MAX:
        errors["note"] = N_("The note is too long (at most 2000 characters).")
    if task.kind == TaskKind.SATISFACTION:
        if result not in SATISFACTION:
            errors["result"] = N_("Choose what the caller said about the service.")
    elif result:
        errors["result"] = N_("Only a satisfaction follow-up records a result.")
    if errors:
        raise FormInvalid(errors)
    await _move(
        session,
        task,
        TaskStatus.DONE,
        {
            "done_at": now,
            "done_by_id": actor.id,
            "result": result or None,
            "note_ciphertext": cipher.encrypt_optional(clean_note or None, context=TASK_NOTE_CONTEXT),
        },
    )
    record_event(
        session,
        cipher,
        case_id=case.id or 0,
        kind="task.done",
        actor=actor,
        detail={"task": task.id, "task_kind": task.kind, "result": result or None},
        text=clean_note or None,
        at=now,
    )
    await session.commit()
    await session.refresh(task)
    return task


async def cancel_task(
    session: AsyncSession,
    cipher: FieldCipher,
    *,
    task_id: int,
    actor: StaffUser,
    reason: str,
    now: datetime,
) -> Task:
    """A supervisor withdraws a task that is no longer needed, saying why. Commits."""
    task, case = await _task_in_scope(session, task_id, actor)
    require_open(case)
    clean_reason = reason.strip()
    if not clean_reason or len(clean_reason) > NOTE_MAX:
        raise FormInvalid({"reason": N_("Say why the task is no longer needed (at most 2000 characters).")})
    await _move(session, task, TaskStatus.CANCELLED, {"done_at": now, "done_by_id": actor.id})
    record_event(
        session,
        cipher,
        case_id=case.id or 0,
        kind="task.cancelled",
        actor=actor,
        detail={"task": task.id, "task_kind": task.kind},
        text=clean_reason,
        at=now,
    )
    await session.commit()
    await session.refresh(task)
    return task


def parse_local_due(raw: str, timezone: str) -> datetime:
    """A `datetime-local` value ("2026-11-27T09:00") read in the site's zone; FormInvalid otherwise."""
    try:
        local = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise FormInvalid({"due": N_("Enter the date and time the task is due.")}) from None
    if local.tzinfo is not None:
        return local
    return local.replace(tzinfo=ZoneInfo(timezone))


async def assignable_owners(session: AsyncSession, case: ReferralCase, viewer: StaffUser) -> list[StaffUser]:
    """Who may own a task on this case: active operators and supervisors within the viewer's scope whose
    own scope covers the case (its unit or a unit above it, and its line)."""
    path = (await session.exec(select(OrgUnit.path).where(OrgUnit.id == case.unit_id))).one()
    chain = [int(part) for part in path.strip("/").split("/") if part]
    rows = await session.exec(
        select(StaffUser)
        .where(
            col(StaffUser.unit_id).in_(chain),
            visible_to(StaffUser.unit_id, viewer.unit_id),
            col(StaffUser.role).in_([Role.OPERATOR, Role.SUPERVISOR]),
            col(StaffUser.is_active).is_(True),
            # Someone limited to another line cannot see the case, so cannot carry its task.
            col(StaffUser.line).is_(None) | (col(StaffUser.line) == case.line),
        )
        .order_by(col(StaffUser.display_name), col(StaffUser.id))
    )
    return list(rows.all())


async def add_task(
    session: AsyncSession,
    cipher: FieldCipher,
    *,
    case: ReferralCase,
    actor: StaffUser,
    title: str,
    due_at: datetime,
    owner_id: int | None,
    now: datetime,
) -> Task:
    """A task written by hand on an open case; the owner defaults to the one adding it. Commits."""
    require_open(case)
    errors: dict[str, str] = {}
    clean_title = " ".join(title.split())
    if not clean_title or len(clean_title) > TITLE_MAX:
        errors["title"] = N_("Say what is to be done (at most 200 characters, no names or numbers).")
    if due_at <= now:
        errors["due"] = N_("The due time must be in the future.")
    elif due_at > now + timedelta(days=366):
        errors["due"] = N_("The due time must be within a year.")
    owners = {owner.id: owner for owner in await assignable_owners(session, case, actor)}
    owner = owners.get(owner_id if owner_id is not None else actor.id)
    if owner is None:
        errors["owner_id"] = N_("Choose a colleague who can see this case.")
    if errors:
        raise FormInvalid(errors)
    assert owner is not None
    task = await open_task(
        session,
        case_id=case.id or 0,
        unit_id=case.unit_id,
        kind=TaskKind.MANUAL,
        title=clean_title,
        due_at=due_at,
        owner_id=owner.id,
        created_by_id=actor.id,
    )
    record_event(
        session,
        cipher,
        case_id=case.id or 0,
        kind="task.added",
        actor=actor,
        detail={"task": task.id, "task_kind": TaskKind.MANUAL, "owner": owner.id},
        text=clean_title,
        at=now,
    )
    await session.commit()
    await session.refresh(task)
    return task
