"""availability_exception and booking_rules: days off, extra hours, and booking rules per site or expert

Revision ID: 0009
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

from core.db import UTCDateTime

revision = "0009"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "availability_exception",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("expert_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("start_local", sa.Time(), nullable=True),
        sa.Column("end_local", sa.Time(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["expert_id"], ["expert.id"]),
        sa.ForeignKeyConstraint(["created_by_id"], ["staff_user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("availability_exception", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_availability_exception_expert_id"), ["expert_id"], unique=False)

    # No row for a site or expert means "the defaults": nothing to fill in for existing ones.
    op.create_table(
        "booking_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=True),
        sa.Column("expert_id", sa.Integer(), nullable=True),
        sa.Column("min_notice_minutes", sa.Integer(), nullable=True),
        sa.Column("window_days", sa.Integer(), nullable=True),
        sa.Column("release_days_before", sa.Integer(), nullable=True),
        sa.Column("release_at", sa.Time(), nullable=True),
        sa.Column("daily_cap", sa.Integer(), nullable=True),
        sa.Column("cutoff_hours", sa.Integer(), nullable=True),
        sa.Column("cutoff_day_before_at", sa.Time(), nullable=True),
        sa.Column("follows_holidays", sa.Boolean(), nullable=True),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["site.id"]),
        sa.ForeignKeyConstraint(["expert_id"], ["expert.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("site_id"),
        sa.UniqueConstraint("expert_id"),
    )


def downgrade() -> None:
    op.drop_table("booking_rules")
    with op.batch_alter_table("availability_exception", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_availability_exception_expert_id"))
    op.drop_table("availability_exception")
