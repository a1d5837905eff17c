"""partial indexes on the open rows the supervision board, the red-alert job and "my tasks" read: open
tasks, open referrals, pending mandatory reports and open cases (PostgreSQL: with INCLUDE columns, for
index-only reads)

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# Written out, not imported from the models: a migration states the schema of its own moment.
OPEN_TASK = "status IN ('open')"
OPEN_REFERRAL = "status IN ('sent', 'acknowledged', 'returned', 'feedback')"
PENDING_REPORT = "status IN ('pending')"
OPEN_CASE = "status IN ('accepted', 'in_progress', 'referred', 'follow_up')"

# (name, table, key columns, where, INCLUDE columns on PostgreSQL)
INDEXES = (
    ("ix_case_task_open_due", "case_task", ["due_at", "id"], OPEN_TASK, ["unit_id", "owner_id", "case_id"]),
    (
        "ix_case_task_open_owner_due",
        "case_task",
        ["owner_id", "due_at", "id"],
        OPEN_TASK,
        ["unit_id", "case_id"],
    ),
    (
        "ix_referral_open_due",
        "referral",
        ["due_at", "id"],
        OPEN_REFERRAL,
        ["unit_id", "case_id", "agency_id"],
    ),
    (
        "ix_mandatory_report_pending_due",
        "mandatory_report",
        ["due_at", "id"],
        PENDING_REPORT,
        ["unit_id", "case_id"],
    ),
    ("ix_referral_case_open", "referral_case", ["id"], OPEN_CASE, ["owner_id", "line", "status"]),
)


def upgrade() -> None:
    for name, table, columns, where, include in INDEXES:
        op.create_index(
            name,
            table,
            columns,
            postgresql_where=sa.text(where),
            sqlite_where=sa.text(where),
            postgresql_include=include,
        )


def downgrade() -> None:
    for name, table, *_ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
