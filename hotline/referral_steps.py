"""The status changes of a referral and of its case, shared by the staff's and the agency's side.

Each change is one conditional UPDATE (`WHERE status IN REFERRAL_TRANSITIONS.sources_of(target)`), so
two requests never both take a step, and a step the state machine does not allow changes no row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import col

from core.accounts import StaffUser
from core.db import AsyncSession
from hotline.case_terms import REFERRAL_TRANSITIONS, ReferralStatus, TaskStatus
from hotline.casework_models import Referral, Task

__all__ = ["move_referral", "settle_check_task"]


async def move_referral(
    session: AsyncSession, referral_id: int, target: ReferralStatus, now: datetime, **values: Any
) -> bool:
    """Move the referral to `target` if its status allows; whether it moved."""
    moved = await session.exec(
        update(Referral)
        .where(
            col(Referral.id) == referral_id,
            col(Referral.status).in_(REFERRAL_TRANSITIONS.sources_of(target)),
        )
        .values(status=target, updated_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    return bool(moved.rowcount == 1)


async def settle_check_task(
    session: AsyncSession, referral_id: int, target: TaskStatus, now: datetime, actor: StaffUser
) -> None:
    """Mark the referral's open check task done (feedback accepted) or cancelled (referral revoked)."""
    await session.exec(
        update(Task)
        .where(col(Task.referral_id) == referral_id, col(Task.status) == TaskStatus.OPEN)
        .values(status=target, done_at=now, done_by_id=actor.id)
        .execution_options(synchronize_session=False)
    )
