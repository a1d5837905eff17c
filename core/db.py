"""Async database access for SQLite (embedded) and PostgreSQL: engine, sessions, shared column types."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

from litestar.di import NamedDependency
from sqlalchemy import DateTime, event
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session as SyncSession
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

__all__ = [
    "AsyncSession",
    "DbSession",
    "SQLModel",
    "UTCDateTime",
    "async_database_url",
    "create_engine",
    "create_sessionmaker",
    "get_by_outside_id",
    "utcnow",
]


Row = TypeVar("Row", bound=SQLModel)
# Primary keys are INTEGER columns (PostgreSQL int4). SQLite raises OverflowError past 2**63 - 1 and
# asyncpg refuses past 2**31 - 1, so an id from a URL, a form or a JSON body is checked against this.
MAX_ROW_ID = 2**31 - 1

# Route handlers declare `db: DbSession`: the request-scoped session provided by app.server.
DbSession = NamedDependency[AsyncSession]


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on the way in and out, on both databases.

    SQLite has no time zones; without this, values read back are naive and compare wrongly against
    aware ones. Naive values are refused on write so a local wall-clock time can never slip in as UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where an aware UTC time is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers go on while one writer commits; busy_timeout makes racing writers wait instead of
    # failing with "database is locked"; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def async_database_url(url: str) -> str:
    """Accept the URLs people write (postgresql://, sqlite:///) and pick the async drivers."""
    for plain, driver in (
        ("postgres://", "postgresql+asyncpg://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


def create_engine(database_url: str, **kwargs: Any) -> AsyncEngine:
    database_url = async_database_url(database_url)
    if database_url.startswith("sqlite"):
        engine = create_async_engine(database_url, connect_args={"timeout": 15}, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(database_url, pool_pre_ping=True, pool_size=10, max_overflow=10, **kwargs)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions of their own Session subclass: listeners attached to it (the outbox's after-commit
    dispatch) hear this sessionmaker's sessions only, never those of another app or test in the process."""
    session_class = type("FamilyHotlineSession", (SyncSession,), {})
    return async_sessionmaker(
        engine, class_=AsyncSession, expire_on_commit=False, sync_session_class=session_class
    )


async def get_by_outside_id(session: AsyncSession, model: type[Row], row_id: int) -> Row | None:
    """`session.get` for an id a request supplied: one outside the key range names no row (None), where
    handing it to the driver would be an error (a 500) instead of "not found"."""
    return await session.get(model, row_id) if 0 < row_id <= MAX_ROW_ID else None
