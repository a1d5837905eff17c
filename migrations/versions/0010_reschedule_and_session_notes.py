"""appointment_move (reschedule history) and appointment.session_notes_ciphertext (the expert's notes)

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

from core.db import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "appointment_move",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("appointment_id", sa.Integer(), nullable=False),
        sa.Column("from_starts_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("from_ends_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("to_starts_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("to_ends_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("moved_by_id", sa.Integer(), nullable=True),
        sa.Column("moved_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["appointment_id"], ["appointment.id"]),
        sa.ForeignKeyConstraint(["moved_by_id"], ["staff_user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("appointment_move") as batch:
        batch.create_index(batch.f("ix_appointment_move_appointment_id"), ["appointment_id"], unique=False)
    notes = sa.Column("session_notes_ciphertext", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
    op.add_column("appointment", notes)


def downgrade() -> None:
    with op.batch_alter_table("appointment") as batch:
        batch.drop_column("session_notes_ciphertext")
    with op.batch_alter_table("appointment_move") as batch:
        batch.drop_index(batch.f("ix_appointment_move_appointment_id"))
    op.drop_table("appointment_move")
