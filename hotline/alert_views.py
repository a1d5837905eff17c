"""A staff member's own alerts (hotline.alerts writes them): read in the reader's language, and marked as
read. Nobody sees or marks another person's alerts; one that is not yours is "not found"."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select, update
from sqlmodel.sql.expression import SelectOfScalar

from core.accounts import StaffUser
from core.db import AsyncSession, utcnow
from core.errors import NotFound
from core.i18n import N_, gettext
from hotline.casework_models import StaffAlert
from hotline.models import ReferralCase

__all__ = ["AlertView", "mark_all_read", "mark_read", "recent_alerts", "unread_alerts"]

RECENT_LIMIT = 100


@dataclass(frozen=True)
class AlertView:
    id: int
    kind: str
    text: str  # translated for the reader; names a case number, never a person
    case_number: str | None
    created_at: datetime
    read: bool


def _view(alert: StaffAlert, case_number: str | None) -> AlertView:
    params = json.loads(alert.params or "{}")
    try:
        text = gettext(alert.message).format(**params)
    except (KeyError, IndexError, ValueError):  # a text whose fields changed since the alert was written
        text = gettext(alert.message)
    return AlertView(
        id=alert.id or 0,
        kind=alert.kind,
        text=text,
        case_number=case_number,
        created_at=alert.created_at,
        read=alert.read_at is not None,
    )


def _own(viewer: StaffUser) -> SelectOfScalar[StaffAlert]:
    return select(StaffAlert).where(StaffAlert.recipient_id == (viewer.id or 0))


async def unread_alerts(session: AsyncSession, viewer: StaffUser, *, limit: int = 20) -> list[AlertView]:
    """The viewer's unread alerts, newest first (the home-page box; the index covers recipient and
    read_at)."""
    rows = await session.exec(
        select(StaffAlert, ReferralCase.number)
        .outerjoin(ReferralCase, col(ReferralCase.id) == StaffAlert.case_id)  # the number, from the case
        .where(StaffAlert.recipient_id == (viewer.id or 0), col(StaffAlert.read_at).is_(None))
        .order_by(col(StaffAlert.created_at).desc(), col(StaffAlert.id).desc())
        .limit(limit)
    )
    return [_view(alert, number) for alert, number in rows.all()]


async def recent_alerts(session: AsyncSession, viewer: StaffUser) -> list[AlertView]:
    """The viewer's alerts, read or not, newest first."""
    rows = await session.exec(
        select(StaffAlert, ReferralCase.number)
        .outerjoin(ReferralCase, col(ReferralCase.id) == StaffAlert.case_id)
        .where(StaffAlert.recipient_id == (viewer.id or 0))
        .order_by(col(StaffAlert.created_at).desc(), col(StaffAlert.id).desc())
        .limit(RECENT_LIMIT)
    )
    return [_view(alert, number) for alert, number in rows.all()]


async def mark_read(session: AsyncSession, viewer: StaffUser, alert_id: int) -> None:
    """Mark one of the viewer's alerts as read (again is harmless); NotFound for anyone else's."""
    if not 0 < alert_id < 2**31:  # beyond the key's range (PostgreSQL would refuse to compare it)
        raise NotFound(N_("No such alert."))
    alert = (await session.exec(_own(viewer).where(StaffAlert.id == alert_id))).first()
    if alert is None:
        raise NotFound(N_("No such alert."))
    await session.exec(
        update(StaffAlert)
        .where(col(StaffAlert.id) == alert_id, col(StaffAlert.read_at).is_(None))
        .values(read_at=utcnow())
    )
    await session.commit()


async def mark_all_read(session: AsyncSession, viewer: StaffUser) -> None:
    await session.exec(
        update(StaffAlert)
        .where(col(StaffAlert.recipient_id) == (viewer.id or 0), col(StaffAlert.read_at).is_(None))
        .values(read_at=utcnow())
    )
    await session.commit()
