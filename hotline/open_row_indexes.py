"""Partial indexes on the open rows only (open tasks, open referrals, pending mandatory reports, open
cases): the board, the red-alert job and "my tasks" read nothing else, and open rows are a small, steady
share of tables that grow with every closed case. On PostgreSQL the index also carries the columns those
reads need (INCLUDE), so they are answered from the index alone; SQLite keeps the same partial index
without them."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Index, text

__all__ = ["open_rows_index", "status_in"]


def status_in(statuses: Iterable[str]) -> str:
    """The index's WHERE clause: `status IN ('a', 'b')`, from the vocabularies' own values."""
    quoted = ", ".join(f"'{status}'" for status in statuses)
    return f"status IN ({quoted})"


def open_rows_index(name: str, *columns: str, where: str, include: tuple[str, ...] = ()) -> Index:
    condition = text(where)
    return Index(
        name,
        *columns,
        postgresql_where=condition,
        sqlite_where=condition,
        postgresql_include=list(include),
    )
