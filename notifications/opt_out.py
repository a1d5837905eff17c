"""Per-number SMS opt-outs (STOP, 退订, TD...), keyed by the phone's blind index, never the number."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select

from core.db import AsyncSession, utcnow
from notifications.models import SmsOptOut

__all__ = ["is_opted_out", "record_opt_out", "remove_opt_out"]


async def is_opted_out(session: AsyncSession, phone_index: str) -> bool:
    found = await session.exec(select(SmsOptOut.id).where(SmsOptOut.phone_index == phone_index).limit(1))
    return found.first() is not None


async def record_opt_out(session: AsyncSession, phone_index: str, *, source: str) -> None:
    """Idempotent: a second STOP (or STOP racing a 21610 from Twilio) keeps the first record."""
    # ON CONFLICT DO NOTHING exists on both databases, but each dialect builds it with its own insert().
    on_postgresql = session.get_bind().dialect.name == "postgresql"
    insert = postgresql_insert if on_postgresql else sqlite_insert
    statement = (
        insert(SmsOptOut)
        .values(phone_index=phone_index, opted_out_at=utcnow(), source=source)
        .on_conflict_do_nothing(index_elements=["phone_index"])
    )
    await session.exec(statement)


async def remove_opt_out(session: AsyncSession, phone_index: str) -> bool:
    result = await session.exec(delete(SmsOptOut).where(col(SmsOptOut.phone_index) == phone_index))
    return bool(result.rowcount)
