"""Which sending workers are alive: each keeps a heartbeat row in the database.

A row in `sending` belongs to the worker that claimed it. While that worker beats, nobody else touches
the row, however long Twilio takes. Once its heartbeat is older than FH_OUTBOX_STALL_SECONDS (it was
killed, or its host died), the sweep of any other worker releases the row for a check at Twilio. The
database holds the heartbeats because it is what the outbox itself lives in: a Redis outage must not make
every worker look dead.
"""

from __future__ import annotations

import os
import secrets
import socket
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, insert, or_, update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select

from core.db import AsyncSession, utcnow
from notifications.models import OutboxMessage, OutboxWorker

__all__ = ["beat", "beat_interval", "claimant_gone", "new_worker_name", "prune_silent", "retire"]

# A worker silent this long has been gone for days; its row only clutters the table.
FORGET_AFTER = timedelta(days=1)


def new_worker_name() -> str:
    """Host and pid for the person reading a row, and a random part so a restarted pid is a new name."""
    return f"{socket.gethostname()[:48]}:{os.getpid()}:{secrets.token_hex(4)}"


def beat_interval(stall_seconds: float) -> float:
    """Several beats fit in the stall timeout, so one slow write never makes a live worker look gone."""
    return max(min(stall_seconds / 5, 10.0), 0.5)


async def beat(maker: async_sessionmaker[AsyncSession], name: str) -> None:
    """Record that `name` is alive now; the first beat registers it."""
    now = utcnow()
    async with maker() as session:
        updated = await session.exec(
            update(OutboxWorker).where(col(OutboxWorker.name) == name).values(beat_at=now)
        )
        if not updated.rowcount:
            await session.exec(insert(OutboxWorker).values(name=name, started_at=now, beat_at=now))
        await session.commit()


async def retire(maker: async_sessionmaker[AsyncSession], name: str) -> None:
    """A worker stopping cleanly removes its row: anything it still claimed is at once another's to check."""
    async with maker() as session:
        await session.exec(delete(OutboxWorker).where(col(OutboxWorker.name) == name))
        await session.commit()


async def prune_silent(session: AsyncSession, now: datetime) -> None:
    await session.exec(delete(OutboxWorker).where(col(OutboxWorker.beat_at) < now - FORGET_AFTER))


def claimant_gone(now: datetime, stall: timedelta) -> ColumnElement[bool]:
    """SQL: the row's claimant has no heartbeat newer than `stall` (it died, or stopped and retired).
    A row claimed before claimants were recorded falls back to the age of its claim."""
    alive = select(OutboxWorker.name).where(col(OutboxWorker.beat_at) >= now - stall)
    return or_(
        and_(col(OutboxMessage.claimed_by).is_(None), col(OutboxMessage.claimed_at) < now - stall),
        col(OutboxMessage.claimed_by).not_in(alive),
    )
