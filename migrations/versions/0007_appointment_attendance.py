"""appointment.attendance: what happened at a confirmed appointment (attended, late, no-show, cancelled late)

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.db import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: every appointment before this revision has no attendance on record, which is the truth.
    op.add_column("appointment", sa.Column("attendance", sa.String(length=20), nullable=True))
    recorded_at = sa.Column("attendance_recorded_at", UTCDateTime(timezone=True), nullable=True)
    op.add_column("appointment", recorded_at)


def downgrade() -> None:
    with op.batch_alter_table("appointment") as batch:
        batch.drop_column("attendance_recorded_at")
        batch.drop_column("attendance")
