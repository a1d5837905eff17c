"""Reading the audit log: an administrator's search over it (a case's own history is in
`hotline.case_history`).

The log keeps who did what (`actor_label`) even for refused logins that name no account. An administrator
sees the rows of staff in their unit and below — acts by them, and refused logins under their usernames —
never a sibling unit's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import or_
from sqlmodel import col, select

from core.accounts import StaffUser
from core.audit import AuditEvent
from core.db import AsyncSession
from core.units import visible_to

__all__ = ["AUDIT_PAGE_SIZE", "AuditFilters", "search_audit"]

AUDIT_PAGE_SIZE = 100


@dataclass(frozen=True)
class AuditFilters:
    username: str = ""
    action: str = ""
    case_number: str = ""
    date_from: str = ""  # YYYY-MM-DD, the site's local date
    date_to: str = ""

    def day(self, raw: str) -> date | None:
        try:
            return date.fromisoformat(raw) if raw else None
        except ValueError:
            return None  # an unreadable date filters nothing rather than failing the page


def _local_midnight(day: date, timezone: str) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(timezone))


async def search_audit(
    session: AsyncSession, admin: StaffUser, filters: AuditFilters, *, timezone: str
) -> list[AuditEvent]:
    """Newest first, at most AUDIT_PAGE_SIZE rows, within the administrator's scope."""
    in_scope = select(StaffUser.username).where(visible_to(StaffUser.unit_id, admin.unit_id))
    query = select(AuditEvent).where(col(AuditEvent.actor_label).in_(in_scope))
    if filters.username.strip():
        query = query.where(col(AuditEvent.actor_label) == filters.username.strip().lower())
    if filters.action.strip():
        query = query.where(col(AuditEvent.action).startswith(filters.action.strip(), autoescape=True))
    if filters.case_number.strip():
        number = filters.case_number.strip().upper()
        query = query.where(
            or_(
                (col(AuditEvent.object_type) == "referral_case") & (col(AuditEvent.object_id) == number),
                col(AuditEvent.detail).contains(f'"case": "{number}"', autoescape=True),
            )
        )
    start, end = filters.day(filters.date_from), filters.day(filters.date_to)
    if start:
        query = query.where(col(AuditEvent.at) >= _local_midnight(start, timezone))
    if end:
        query = query.where(col(AuditEvent.at) < _local_midnight(end + timedelta(days=1), timezone))
    query = query.order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc()).limit(AUDIT_PAGE_SIZE)
    return list((await session.exec(query)).all())
