"""Repeat callers: other cases reached from the same phone number, found by blind index alone."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select

from core.accounts import StaffUser
from core.db import AsyncSession
from hotline.case_scope import case_in_scope
from hotline.models import Call, ReferralCase

__all__ = ["RelatedCase", "cases_called_about_from"]

# A number that has called a hundred times is flagged just as clearly by the newest twenty.
MAX_RELATED_CASES = 20


@dataclass(frozen=True)
class RelatedCase:
    number: str
    line: str
    category: str
    urgency: str
    status: str
    opened_at: datetime


async def cases_called_about_from(
    session: AsyncSession,
    phone_indexes: Collection[str],
    *,
    viewer: StaffUser,
    excluding_case_id: int | None = None,
) -> list[RelatedCase]:
    """Cases other than `excluding_case_id` with a call from any of these numbers, newest first, of the
    viewer's scope (hotline.case_scope: a sibling unit's or another line's cases are not shown, not even
    that they exist).

    Only the keyed hash is compared and only case metadata is read: no phone or summary of another
    case is decrypted to tell the operator that this number called before.
    """
    if not phone_indexes:
        return []
    case_ids = select(Call.case_id).where(col(Call.caller_phone_index).in_(list(phone_indexes)))
    query = select(ReferralCase).where(col(ReferralCase.id).in_(case_ids), case_in_scope(viewer))
    if excluding_case_id is not None:
        query = query.where(ReferralCase.id != excluding_case_id)
    query = query.order_by(col(ReferralCase.created_at).desc(), col(ReferralCase.id).desc())
    cases = (await session.exec(query.limit(MAX_RELATED_CASES))).all()
    return [
        RelatedCase(
            number=case.number,
            line=case.line,
            category=case.category,
            urgency=case.urgency,
            status=case.status,
            opened_at=case.created_at,
        )
        for case in cases
    ]
