"""Apply the Alembic migrations programmatically (`family-hotline db upgrade`, tests, demo)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

from core.db import create_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


async def upgrade_database(database_url: str, revision: str = "head") -> None:
    """Run migrations on the async engine, in a worker thread because Alembic's API is synchronous."""
    engine = create_engine(database_url)
    config = alembic_config(database_url)

    def _upgrade(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)
    await engine.dispose()


def upgrade_database_sync(database_url: str, revision: str = "head") -> None:
    asyncio.run(upgrade_database(database_url, revision))
