"""site_feed: a secret calendar feed per site for reception; expert.updated_at: the last roster edit

Revision ID: 0012
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.db import UTCDateTime

revision = "0012"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: no expert was edited before this revision.
    op.add_column("expert", sa.Column("updated_at", UTCDateTime(timezone=True), nullable=True))
    op.create_table(
        "site_feed",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("site_id", sa.Integer(), sa.ForeignKey("site.id"), nullable=False, unique=True),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False, unique=True),
        sa.Column("rotated_at", UTCDateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("site_feed")
    with op.batch_alter_table("expert") as batch:
        batch.drop_column("updated_at")
