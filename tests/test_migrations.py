"""The migrations build the schema the models describe, on the database under test (SQLite or PostgreSQL):
a hand-written migration that forgets a column, a type or an index fails here, not in production."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

import app.models  # noqa: F401  (registers every table on the metadata)
from core.db import SQLModel, create_engine


async def test_a_freshly_migrated_database_matches_the_models(migrated_database):
    def differences(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, SQLModel.metadata))

    engine = create_engine(migrated_database)
    try:
        async with engine.connect() as connection:
            found = await connection.run_sync(differences)
    finally:
        await engine.dispose()

    if migrated_database.startswith("sqlite"):
        # Migration 0003 says why SQLite's columns added to tables with data (`unit_id`, 0004's case
        # owner) carry no FOREIGN KEY clause (SQLite cannot add one while foreign keys are enforced);
        # PostgreSQL has them all.
        found = [diff for diff in found if not _added_column_fk(diff)]
    assert found == []


# (column, referred table) of the references that SQLite databases upgraded in place go without.
_ADDED_COLUMN_REFERENCES = {("unit_id", "org_unit"), ("owner_id", "staff_user")}


def _added_column_fk(diff: object) -> bool:
    if not (isinstance(diff, tuple) and diff[0] == "add_fk"):
        return False
    constraint = diff[1]
    columns = [column.name for column in constraint.columns]
    return len(columns) == 1 and (columns[0], constraint.referred_table.name) in _ADDED_COLUMN_REFERENCES
