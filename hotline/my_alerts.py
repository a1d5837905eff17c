"""The alerts on a staff member's home page (written by hotline.alerts): unread ones, newest first, in
the reader's language, and marking them read."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, select

from core.accounts import StaffUser
from core.db import AsyncSession
from core.i18n import current_locale
from hotline.alerts import alert_text
from hotline.casework_models import StaffAlert
from hotline.models import ReferralCase

__all__ = ["AlertRow", "mark_alerts_read", "unread_alerts"]

ALERTS_SHOWN = 50


@dataclass(frozen=True)
class AlertRow:
    id: int
    kind: str
    text: str
    case_number: str | None
    created_at: datetime


async def unread_alerts(session: AsyncSession, viewer: StaffUser) -> list[AlertRow]:
    rows = await session.exec(
        select(StaffAlert, ReferralCase.number)
        .outerjoin(ReferralCase, col(ReferralCase.id) == StaffAlert.case_id)
        .where(StaffAlert.recipient_id == viewer.id, col(StaffAlert.read_at).is_(None))
        .order_by(col(StaffAlert.created_at).desc(), col(StaffAlert.id).desc())
        .limit(ALERTS_SHOWN)
    )
    locale = current_locale()
    return [
        AlertRow(
            id=alert.id or 0,
            kind=alert.kind,
            text=alert_text(alert.message, json.loads(alert.params or "{}"), locale),
            case_number=number,
            created_at=alert.created_at,
        )
        for alert, number in rows.all()
    ]


async def mark_alerts_read(session: AsyncSession, viewer: StaffUser, now: datetime) -> None:
    """Every unread alert of the viewer's (only theirs: the recipient is in the WHERE). Commits."""
    await session.exec(
        update(StaffAlert)
        .where(col(StaffAlert.recipient_id) == viewer.id, col(StaffAlert.read_at).is_(None))
        .values(read_at=now)
        .execution_options(synchronize_session=False)
    )
    await session.commit()
