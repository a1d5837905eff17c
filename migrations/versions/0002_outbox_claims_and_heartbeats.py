"""outbox: who claimed a row and whether an earlier attempt is in doubt; heartbeats of sending workers

- `outbox_message.claimed_by`: the worker that moved the row to `sending`;
- `outbox_message.in_doubt_since`: set while an earlier attempt may have reached Twilio unseen;
- `outbox_worker`: one row per process that sends SMS, with its last heartbeat.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 09:12:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch_alter_table: SQLite cannot alter a table in place for every change; for adding nullable
    # columns it is a plain ALTER on both databases.
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column("in_doubt_since", core.db.UTCDateTime(timezone=True), nullable=True))

    op.create_table(
        "outbox_worker",
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("started_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("beat_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("outbox_worker")
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_column("in_doubt_since")
        batch_op.drop_column("claimed_by")
