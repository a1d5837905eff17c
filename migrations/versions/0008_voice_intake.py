"""voice intake: voice_call (one row per Twilio CallSid), voice_offer (a call offered to an operator's
phone), operator_duty (the phone an operator answers on and their state)

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, core.db.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "voice_call",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("call_sid", sa.String(length=64), nullable=False, unique=True),
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("org_unit.id"), nullable=False),
        sa.Column("line", sa.String(length=20), nullable=False),
        sa.Column("to_number", sa.String(length=32), nullable=False),
        sa.Column("caller_phone_ciphertext", sa.String(), nullable=True),
        sa.Column("caller_phone_index", sa.String(length=64), nullable=True),
        sa.Column("menu_choice", sa.String(length=20), nullable=True),
        sa.Column("crisis", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        _when("ringing_at", nullable=False),
        _when("queued_at"),
        _when("answered_at"),
        _when("ended_at"),
        sa.Column("queue_wait_seconds", sa.Integer(), nullable=True),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("operator_id", sa.Integer(), sa.ForeignKey("staff_user.id"), nullable=True),
        sa.Column("recording_sid", sa.String(length=64), nullable=True),
        sa.Column("voicemail_sid", sa.String(length=64), nullable=True),
        sa.Column("voicemail_seconds", sa.Integer(), nullable=True),
        _when("callback_due_at"),
        _when("callback_done_at"),
        sa.Column("callback_by_id", sa.Integer(), sa.ForeignKey("staff_user.id"), nullable=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("referral_case.id"), nullable=True),
        sa.Column("hotline_call_id", sa.Integer(), sa.ForeignKey("hotline_call.id"), nullable=True),
        _when("updated_at", nullable=False),
    )
    op.create_index("ix_voice_call_unit_id", "voice_call", ["unit_id"])
    op.create_index("ix_voice_call_line", "voice_call", ["line"])
    op.create_index("ix_voice_call_caller_phone_index", "voice_call", ["caller_phone_index"])
    op.create_index("ix_voice_call_ringing_at", "voice_call", ["ringing_at"])
    op.create_index("ix_voice_call_operator_id", "voice_call", ["operator_id"])
    op.create_index("ix_voice_call_case_id", "voice_call", ["case_id"])
    op.create_index("ix_voice_call_queue", "voice_call", ["line", "status", "crisis", "queued_at"])
    op.create_index("ix_voice_call_callback", "voice_call", ["callback_done_at", "callback_due_at"])

    op.create_table(
        "voice_offer",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("voice_call_id", sa.Integer(), sa.ForeignKey("voice_call.id"), nullable=False),
        sa.Column("operator_id", sa.Integer(), sa.ForeignKey("staff_user.id"), nullable=False),
        sa.Column("leg_sid", sa.String(length=64), nullable=True, unique=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        _when("offered_at", nullable=False),
        _when("settled_at"),
    )
    op.create_index("ix_voice_offer_voice_call_id", "voice_offer", ["voice_call_id"])
    op.create_index("ix_voice_offer_operator_id", "voice_offer", ["operator_id"])

    op.create_table(
        "operator_duty",
        sa.Column("staff_user_id", sa.Integer(), sa.ForeignKey("staff_user.id"), primary_key=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("answer_phone_ciphertext", sa.String(), nullable=True),
        _when("idle_since"),
        sa.Column("current_call_id", sa.Integer(), sa.ForeignKey("voice_call.id"), nullable=True),
        _when("updated_at", nullable=False),
    )
    op.create_index("ix_operator_duty_state_idle", "operator_duty", ["state", "idle_since"])


def downgrade() -> None:
    op.drop_table("operator_duty")
    op.drop_table("voice_offer")
    op.drop_table("voice_call")
