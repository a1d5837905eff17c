"""rate_count and suspension_lift: limits against abuse of online booking and lifted no-show suspensions

Revision ID: 0011
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.db import UTCDateTime

revision = "0011"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_count",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("window_start", UTCDateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", "window_start"),
    )
    op.create_table(
        "suspension_lift",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("phone_index", sa.String(length=64), nullable=False),
        sa.Column("lifted_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("lifted_by_id", sa.Integer(), nullable=False),
        sa.Column("reason_ciphertext", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(["lifted_by_id"], ["staff_user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_suspension_lift_phone_index", "suspension_lift", ["phone_index"])


def downgrade() -> None:
    op.drop_index("ix_suspension_lift_phone_index", table_name="suspension_lift")
    op.drop_table("suspension_lift")
    op.drop_table("rate_count")
