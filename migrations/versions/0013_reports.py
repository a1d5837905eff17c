"""Reports: the quarterly report's drafts and signed versions (append-only), and the indexes the figures'
aggregations read by (unit and time)

Revision ID: 0013
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.db import UTCDateTime

revision = "0013"
down_revision = "0011"
branch_labels = None
depends_on = None

_INDEXES = (
    ("ix_report_call_unit_received", "hotline_call", ["unit_id", "received_at"]),
    ("ix_report_case_unit_created", "referral_case", ["unit_id", "created_at"]),
    ("ix_report_case_unit_closed", "referral_case", ["unit_id", "closed_at"]),
    ("ix_report_referral_unit_sent", "referral", ["unit_id", "sent_at"]),
    ("ix_report_mandatory_report_unit_created", "mandatory_report", ["unit_id", "created_at"]),
    ("ix_report_task_unit_due", "case_task", ["unit_id", "due_at"]),
    ("ix_report_task_unit_done", "case_task", ["unit_id", "done_at"]),
    ("ix_report_appointment_expert_starts", "appointment", ["expert_id", "starts_at"]),
    ("ix_report_outbox_related", "outbox_message", ["related_type", "created_at", "related_id"]),
)


def _narrative() -> list[sa.Column[str]]:
    return [sa.Column(name, sa.String(), nullable=False) for name in ("progress", "problems", "plans")]


def upgrade() -> None:
    op.create_table(
        "report_draft",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("org_unit.id"), nullable=False),
        sa.Column("period", sa.String(length=30), nullable=False),
        *_narrative(),
        sa.Column("updated_by_id", sa.Integer(), sa.ForeignKey("staff_user.id"), nullable=True),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("unit_id", "period", name="uq_report_draft_unit_period"),
    )
    op.create_table(
        "report_version",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("org_unit.id"), nullable=False),
        sa.Column("unit_name", sa.String(length=120), nullable=False),
        sa.Column("period", sa.String(length=30), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("figures_json", sa.String(), nullable=False),
        *_narrative(),
        sa.Column("signed_by_id", sa.Integer(), sa.ForeignKey("staff_user.id"), nullable=False),
        sa.Column("signed_by_name", sa.String(length=120), nullable=False),
        sa.Column("signed_at", UTCDateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("unit_id", "period", "version", name="uq_report_version"),
    )
    op.create_index("ix_report_version_period", "report_version", ["period", "unit_id"])
    for name, table, columns in _INDEXES:
        op.create_index(name, table, columns)
    # A signed version is evidence of what was reported: refuse UPDATE and DELETE as on audit_event
    # (migration 0001 created refuse_change() on PostgreSQL).
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TRIGGER report_version_append_only BEFORE UPDATE OR DELETE ON report_version "
            "FOR EACH ROW EXECUTE FUNCTION refuse_change()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER report_version_no_{verb.lower()} BEFORE {verb} ON report_version "
                "BEGIN SELECT RAISE(ABORT, 'report_version is append-only'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS report_version_append_only ON report_version")
    else:
        op.execute("DROP TRIGGER IF EXISTS report_version_no_update")
        op.execute("DROP TRIGGER IF EXISTS report_version_no_delete")
    for name, table, _columns in _INDEXES:
        op.drop_index(name, table_name=table)
    op.drop_index("ix_report_version_period", table_name="report_version")
    op.drop_table("report_version")
    op.drop_table("report_draft")
