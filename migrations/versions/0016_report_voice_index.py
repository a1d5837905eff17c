"""Reports: voice calls counted per unit and period read `(unit_id, ringing_at)`.

Revision ID: 0016
Revises: 0010
"""

from __future__ import annotations

from alembic import op

revision = "0016"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_report_voice_call_unit_ringing", "voice_call", ["unit_id", "ringing_at"])


def downgrade() -> None:
    op.drop_index("ix_report_voice_call_unit_ringing", table_name="voice_call")
