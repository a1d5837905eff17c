"""The periodic job behind the lights: when a task, a referral or a mandatory report turns red, alert its
owner and the supervisors over its unit, once.

Lights themselves need no job (hotline.lights computes them from `due_at` on reading). What needs one
is the alert. Each red item is claimed with a conditional UPDATE that sets `red_alerted_at` only where
it is still unset, still due and still open, in the same transaction as the alerts; so two runs, or two
workers at once, alert once, and an item done before its turn came is never alerted at all. The alert
text names the case number and what kind of thing is late, nothing about the people in it.

In production an arq cron job in the worker runs it (wired in app.wiring); in embedded mode (no Redis)
`RedAlertWatch` runs it in the web process every FH_LIGHTS_CHECK_SECONDS.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import select

from core.accounts import StaffUser
from core.db import AsyncSession, utcnow
from core.i18n import N_
from core.periodic import PeriodicJob
from core.privacy import FieldCipher
from core.settings import Settings
from hotline.alerts import alert_staff, supervisors_over
from hotline.models import ReferralCase
from hotline.open_items import OPEN_ITEMS, ItemKind, OpenItemKind

__all__ = ["RED_ALERT_TEXTS", "RedAlertWatch", "alert_newly_red"]

# Items looked at per query; a backlog (the first run after a long stop) is worked through in batches.
BATCH = 200

RED_ALERT_TEXTS: dict[ItemKind, str] = {
    ItemKind.TASK: N_("Case {case}: a follow-up task is overdue."),
    ItemKind.REFERRAL: N_("Case {case}: the agency's feedback on a referral is overdue."),
    ItemKind.MANDATORY_REPORT: N_("Case {case}: the mandatory report to the police is overdue."),
}


async def alert_newly_red(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    cipher: FieldCipher,
    now: datetime | None = None,
) -> int:
    """Alert about every item that is red and not yet alerted; returns how many alerts were written."""
    now = now or utcnow()
    written = 0
    for item in OPEN_ITEMS:
        after_id = 0
        while True:
            async with sessionmaker() as session:
                ids = list(
                    (
                        await session.exec(
                            select(item.column("id"))
                            .where(*_newly_red(item, now), item.column("id") > after_id)
                            .order_by(item.column("id"))
                            .limit(BATCH)
                        )
                    ).all()
                )
            for item_id in ids:
                written += await _claim_and_alert(sessionmaker, settings, cipher, item, item_id, now)
            if len(ids) < BATCH:
                break
            after_id = ids[-1]
    return written


def _newly_red(item: OpenItemKind, now: datetime) -> list[ColumnElement[bool]]:
    return [item.column("red_alerted_at").is_(None), item.column("due_at") <= now, item.still_open()]


async def _claim_and_alert(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    cipher: FieldCipher,
    item: OpenItemKind,
    item_id: int,
    now: datetime,
) -> int:
    async with sessionmaker() as session:
        claimed = await session.exec(
            update(item.model)
            .where(item.column("id") == item_id, *_newly_red(item, now))
            .values(red_alerted_at=now)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:
            await session.rollback()
            return 0  # another run claimed it, or it was done or moved meanwhile
        row = await session.get(item.model, item_id)
        case = await session.get(ReferralCase, getattr(row, "case_id", None))
        if row is None or case is None:
            await session.rollback()
            return 0
        owner_id = getattr(row, "owner_id", None) if item.kind == ItemKind.TASK else case.owner_id
        recipients = await supervisors_over(session, case.unit_id, case.line)
        owner = await session.get(StaffUser, owner_id) if owner_id is not None else None
        if owner is not None and owner.is_active and owner.id not in {r.id for r in recipients}:
            recipients.insert(0, owner)
        written = await alert_staff(
            session,
            cipher,
            settings,
            recipients=recipients,
            case_id=case.id,
            kind=f"{item.kind}.red",
            text=(RED_ALERT_TEXTS[item.kind], {"case": case.number}),
            dedupe_key=f"red:{item.kind}:{item_id}",
        )
        await session.commit()
        return written


class RedAlertWatch(PeriodicJob):
    """Embedded mode's stand-in for the arq cron job: runs `alert_newly_red` every `interval` seconds
    in the web process, from its start until its stop."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        cipher: FieldCipher,
        interval: float | None = None,
    ) -> None:
        super().__init__(
            "red-alert-watch",
            lambda: alert_newly_red(sessionmaker, settings, cipher),
            interval if interval is not None else settings.lights_check_seconds,
        )
