"""What every act on an open case shares: find it in the actor's scope and refuse a closed one, change
its row only with a conditional UPDATE, write the audit row, and commit everything at once or nothing.

The modules of the acts themselves (hotline.case_lifecycle, triage, case_owner, case_notes, help_plans)
hold the rules; this one holds the shape they all take.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, update

from core.accounts import StaffUser
from core.audit import record_audit
from core.db import AsyncSession
from core.i18n import N_
from hotline.case_guard import require_open
from hotline.case_views import find_case
from hotline.models import ReferralCase
from hotline.taxonomy import CaseStatus

__all__ = [
    "CHANGED_MEANWHILE",
    "audit_case_act",
    "open_case_for_change",
    "transaction",
    "update_case_row",
]

# Said when a compare-and-set UPDATE found the row no longer as the request read it.
CHANGED_MEANWHILE = N_("Someone changed this case a moment ago. Reload the page and try again.")


@asynccontextmanager
async def transaction(session: AsyncSession) -> AsyncIterator[None]:
    """Commit what the block did, or roll all of it back if it raised (a refusal changes nothing)."""
    try:
        yield
        await session.commit()
    except BaseException:
        await session.rollback()
        raise


async def open_case_for_change(session: AsyncSession, number: str, actor: StaffUser) -> ReferralCase:
    """The case (NotFound outside the actor's scope), refused with a 400 when it is closed."""
    case = await find_case(session, number, actor)
    require_open(case)
    return case


async def update_case_row(
    session: AsyncSession,
    case: ReferralCase,
    values: dict[str, Any],
    *conditions: ColumnElement[bool],
    closed_too: bool = False,
) -> bool:
    """Set `values` on the case's row only while `conditions` hold there, and (unless `closed_too`) only
    while it is not closed: the check another request may have overtaken is repeated in the UPDATE itself.
    True when the row changed; then the loaded `case` shows the new values too."""
    query = update(ReferralCase).where(col(ReferralCase.id) == case.id, *conditions)
    if not closed_too:
        query = query.where(col(ReferralCase.status) != CaseStatus.CLOSED)
    result = await session.exec(query.values(**values).execution_options(synchronize_session=False))
    if result.rowcount != 1:
        return False
    for name, value in values.items():
        set_committed_value(case, name, value)
    return True


def audit_case_act(
    session: AsyncSession,
    actor: StaffUser | None,
    action: str,
    case: ReferralCase,
    *,
    client_ip: str | None,
    detail: dict[str, Any] | None = None,
    actor_label: str | None = None,
) -> None:
    record_audit(
        session,
        actor_id=actor.id if actor is not None else None,
        actor_label=actor.username if actor is not None else (actor_label or "system"),
        action=action,
        object_type="referral_case",
        object_id=case.number,
        detail=detail,
        client_ip=client_ip,
    )
