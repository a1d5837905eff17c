"""Human case numbers (12355-2026-000123, FE-2026-000042): one counter row per line prefix and year."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.dialects import postgresql, sqlite

from core.db import AsyncSession
from hotline.models import CaseNumberCounter
from hotline.taxonomy import LINE_CASE_PREFIX

__all__ = ["allocate_case_number", "format_case_number"]


def format_case_number(prefix: str, year: int, value: int) -> str:
    return f"{prefix}-{year}-{value:06d}"


def _upsert_for(dialect_name: str) -> Any:
    if dialect_name == "postgresql":
        return postgresql.insert
    if dialect_name == "sqlite":
        return sqlite.insert
    raise NotImplementedError(f"case numbers need an upsert for {dialect_name!r}")


async def allocate_case_number(session: AsyncSession, *, line: str, at: datetime, timezone: str) -> str:
    """Take the next number of `line` for the year of `at` in the site's time zone.

    One `INSERT ... ON CONFLICT DO UPDATE ... RETURNING` both creates the year's counter on first use
    and increments it, so two first calls of a new year cannot both insert, and no read-then-write
    window exists. The counter row stays locked until the caller's transaction ends (PostgreSQL row
    lock; SQLite's single writer), and a rolled-back case gives its number back: numbers are distinct
    and gap-free. Callers must make this the first write of their transaction and commit promptly.
    """
    prefix = LINE_CASE_PREFIX[line]
    # A call at 00:30 on 1 January in Shanghai is still 31 December in UTC: the year is the local one.
    year = at.astimezone(ZoneInfo(timezone)).year
    insert = _upsert_for(session.get_bind().dialect.name)
    table = CaseNumberCounter.__table__  # type: ignore[attr-defined]
    statement = (
        insert(table)
        .values(prefix=prefix, year=year, last_value=1)
        .on_conflict_do_update(
            index_elements=[table.c.prefix, table.c.year],
            set_={"last_value": table.c.last_value + 1},
        )
        .returning(table.c.last_value)
    )
    value = (await session.exec(statement)).scalar_one()
    return format_case_number(prefix, year, value)
