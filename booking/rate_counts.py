"""Counters per key and fixed time window in the database, so a limit holds across every app process.

`bump` is one INSERT … ON CONFLICT DO UPDATE … RETURNING: atomic on both databases, and the row it
writes stays locked until the caller's transaction ends (PostgreSQL's row lock; SQLite's single writer),
so racing requests for the same key queue up instead of both reading "one left". A caller that refuses
rolls back, so a refused attempt is not counted.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col

from booking.models import RateCount
from core.db import AsyncSession

__all__ = ["EPOCH", "bump", "forget_before", "window_start"]

# The window of a counter that never resets (a per-key lock row).
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def window_start(now: datetime, length: timedelta) -> datetime:
    """The start of the fixed window of `length` that `now` falls in, counted from the epoch."""
    return EPOCH + ((now - EPOCH) // length) * length


async def bump(session: AsyncSession, key: str, window: datetime) -> int:
    """Add one to the counter of `key` in `window` and return the new count."""
    on_postgresql = session.get_bind().dialect.name == "postgresql"
    insert = postgresql_insert if on_postgresql else sqlite_insert
    counted = col(RateCount.count)
    statement = (
        insert(RateCount)
        .values(key=key, window_start=window, count=1)
        .on_conflict_do_update(index_elements=["key", "window_start"], set_={"count": counted + 1})
        .returning(counted)
    )
    return int((await session.exec(statement)).scalar_one())


async def forget_before(session: AsyncSession, key: str, cutoff: datetime) -> None:
    """Drop this key's windows that ended long ago, so counters do not pile up per key."""
    await session.exec(
        delete(RateCount).where(col(RateCount.key) == key, col(RateCount.window_start) < cutoff)
    )
