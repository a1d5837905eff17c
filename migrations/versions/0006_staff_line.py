"""staff_user.line: a staff member limited to one hotline line (NULL: every line of their unit scope)

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable and without a default: every existing account keeps seeing every line.
    op.add_column("staff_user", sa.Column("line", sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("staff_user") as batch:
        batch.drop_column("line")
