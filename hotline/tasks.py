"""Opening tasks on a case. Rules (a high risk, a referral sent, a case closed, a plan's review) and
people both open tasks here; a rule names its task with a `rule_key`, unique per case, so a rule that
fires twice (a retried request, two operators at once) still makes one task."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from core.db import AsyncSession, utcnow
from hotline.case_terms import TaskKind, TaskStatus
from hotline.casework_models import Task

__all__ = ["open_task"]


async def open_task(
    session: AsyncSession,
    *,
    case_id: int,
    unit_id: int,
    kind: TaskKind,
    title: str,
    due_at: datetime,
    owner_id: int | None,
    created_by_id: int | None = None,
    rule_key: str | None = None,
    referral_id: int | None = None,
) -> Task:
    """The task, new or (for a rule that already fired on this case) the one it made before."""
    if rule_key is not None:
        existing = (
            await session.exec(select(Task).where(Task.case_id == case_id, Task.rule_key == rule_key))
        ).first()
        if existing is not None:
            return existing
    task = Task(
        case_id=case_id,
        unit_id=unit_id,
        kind=kind,
        title=title,
        due_at=due_at,
        owner_id=owner_id,
        status=TaskStatus.OPEN,
        rule_key=rule_key,
        referral_id=referral_id,
        created_by_id=created_by_id,
        created_at=utcnow(),
    )
    if rule_key is None:
        session.add(task)
        await session.flush()
        return task
    # Another transaction may open the same rule's task between the look-up and here: the unique
    # constraint decides, inside a savepoint so the caller's transaction goes on.
    try:
        async with session.begin_nested():
            session.add(task)
            await session.flush()
    except IntegrityError:
        return (
            await session.exec(select(Task).where(Task.case_id == case_id, Task.rule_key == rule_key))
        ).one()
    return task
