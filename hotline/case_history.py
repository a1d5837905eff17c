"""A case's own audit history, for supervisors on the case page: who read or changed it, and when."""

from __future__ import annotations

from sqlalchemy import or_
from sqlmodel import col, select

from core.audit import AuditEvent
from core.db import AsyncSession

__all__ = ["case_history"]


async def case_history(session: AsyncSession, case_number: str) -> list[AuditEvent]:
    """Every audited act on one case (reads, calls added, bookings, phone reveals), oldest first. The
    caller has already found the case within the reader's scope."""
    query = (
        select(AuditEvent)
        .where(
            or_(
                (col(AuditEvent.object_type) == "referral_case") & (col(AuditEvent.object_id) == case_number),
                col(AuditEvent.detail).contains(f'"case": "{case_number}"', autoescape=True),
            )
        )
        .order_by(col(AuditEvent.at), col(AuditEvent.id))
    )
    return list((await session.exec(query)).all())
