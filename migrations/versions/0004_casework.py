"""case work: timeline events, child flags, mandatory reports, agencies, referrals, tasks, help plans
and staff alerts; triage, child details, owner and closure on the case; a mobile and on-duty mark on
staff accounts

Existing cases get their creator as owner, "unassessed" risk and "not known" child details.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import core.db

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agency",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("district", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("contact_name_ciphertext", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("contact_phone_ciphertext", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("feedback_days", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["org_unit.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("agency", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agency_unit_id"), ["unit_id"], unique=False)

    op.create_table(
        "case_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_label", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("detail", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("text_ciphertext", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["staff_user.id"],
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["referral_case.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("case_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_event_case_id"), ["case_id"], unique=False)

    op.create_table(
        "child_flag",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("flag", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["referral_case.id"],
        ),
        sa.PrimaryKeyConstraint("case_id", "flag"),
    )
    with op.batch_alter_table("child_flag", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_child_flag_flag"), ["flag"], unique=False)

    op.create_table(
        "help_plan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("measures_ciphertext", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("responsible", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("review_on", sa.Date(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["referral_case.id"],
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["staff_user.id"],
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["org_unit.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id"),
    )
    with op.batch_alter_table("help_plan", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_help_plan_unit_id"), ["unit_id"], unique=False)

    op.create_table(
        "mandatory_report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("situations", sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
        sa.Column("trigger", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("police_unit", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=True),
        sa.Column("reported_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("receipt_number", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=True),
        sa.Column("police_response_ciphertext", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("recorded_by_id", sa.Integer(), nullable=True),
        sa.Column("recorded_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("red_alerted_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["referral_case.id"],
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"],
            ["staff_user.id"],
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["org_unit.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id"),
    )
    with op.batch_alter_table("mandatory_report", schema=None) as batch_op:
        batch_op.create_index("ix_mandatory_report_status_due", ["status", "due_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_mandatory_report_unit_id"), ["unit_id"], unique=False)

    op.create_table(
        "referral",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("urgency", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("reason_ciphertext", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("request_ciphertext", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("share_caller_phone", sa.Boolean(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("sent_by_id", sa.Integer(), nullable=False),
        sa.Column("sent_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("due_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=True),
        sa.Column("feedback_ciphertext", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("feedback_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decline_reason_ciphertext", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("closed_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("red_alerted_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agency.id"],
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["referral_case.id"],
        ),
        sa.ForeignKeyConstraint(
            ["sent_by_id"],
            ["staff_user.id"],
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["org_unit.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("referral", schema=None) as batch_op:
        batch_op.create_index("ix_referral_agency_status", ["agency_id", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_referral_case_id"), ["case_id"], unique=False)
        batch_op.create_index("ix_referral_status_due", ["status", "due_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_referral_unit_id"), ["unit_id"], unique=False)

    op.create_table(
        "staff_alert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recipient_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("message", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("params", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("dedupe_key", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("read_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["referral_case.id"],
        ),
        sa.ForeignKeyConstraint(
            ["recipient_id"],
            ["staff_user.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("recipient_id", "dedupe_key", name="uq_staff_alert_once"),
    )
    with op.batch_alter_table("staff_alert", schema=None) as batch_op:
        batch_op.create_index("ix_staff_alert_recipient_read", ["recipient_id", "read_at"], unique=False)

    op.create_table(
        "case_task",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("due_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("rule_key", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=True),
        sa.Column("referral_id", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("done_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("done_by_id", sa.Integer(), nullable=True),
        sa.Column("result", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=True),
        sa.Column("note_ciphertext", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("red_alerted_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["referral_case.id"],
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["staff_user.id"],
        ),
        sa.ForeignKeyConstraint(
            ["done_by_id"],
            ["staff_user.id"],
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["staff_user.id"],
        ),
        sa.ForeignKeyConstraint(
            ["referral_id"],
            ["referral.id"],
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["org_unit.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "rule_key", name="uq_case_task_rule"),
    )
    with op.batch_alter_table("case_task", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_task_case_id"), ["case_id"], unique=False)
        batch_op.create_index("ix_case_task_owner_status_due", ["owner_id", "status", "due_at"], unique=False)
        batch_op.create_index("ix_case_task_status_due", ["status", "due_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_task_unit_id"), ["unit_id"], unique=False)

    bind = op.get_bind()
    with op.batch_alter_table("referral_case") as batch_op:
        batch_op.add_column(sa.Column("owner_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("risk_level", sa.String(length=20), nullable=False, server_default="unassessed")
        )
        batch_op.add_column(sa.Column("risk_reason_ciphertext", sa.String(), nullable=True))
        batch_op.add_column(
            sa.Column("child_sex", sa.String(length=10), nullable=False, server_default="unknown")
        )
        batch_op.add_column(sa.Column("child_age", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("child_school_stage", sa.String(length=20), nullable=False, server_default="unknown")
        )
        batch_op.add_column(
            sa.Column("child_district", sa.String(length=60), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("child_name_ciphertext", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("outcome", sa.String(length=30), nullable=True))
        batch_op.add_column(sa.Column("closing_summary_ciphertext", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("closed_at", core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_referral_case_owner_id", ["owner_id"], unique=False)
        batch_op.create_index("ix_referral_case_risk_level", ["risk_level"], unique=False)
    # Existing cases are carried by whoever opened them.
    op.execute("UPDATE referral_case SET owner_id = created_by_id")
    with op.batch_alter_table("staff_user") as batch_op:
        batch_op.add_column(sa.Column("mobile_ciphertext", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("on_duty", sa.Boolean(), nullable=False, server_default=sa.false()))
    if bind.dialect.name == "postgresql":
        # As in 0003: SQLite gets no FOREIGN KEY clause on a column added to a table with data.
        op.create_foreign_key(
            "fk_referral_case_owner_id", "referral_case", "staff_user", ["owner_id"], ["id"]
        )
        # The server defaults only filled the existing rows: new rows name their values.
        for table, column in (
            ("referral_case", "risk_level"),
            ("referral_case", "child_sex"),
            ("referral_case", "child_school_stage"),
            ("referral_case", "child_district"),
            ("staff_user", "on_duty"),
        ):
            op.alter_column(table, column, server_default=None)


_NEW_TABLES = (
    "case_task",
    "staff_alert",
    "referral",
    "mandatory_report",
    "help_plan",
    "child_flag",
    "case_event",
    "agency",
)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.drop_constraint("fk_referral_case_owner_id", "referral_case", type_="foreignkey")
    with op.batch_alter_table("staff_user") as batch_op:
        batch_op.drop_column("on_duty")
        batch_op.drop_column("mobile_ciphertext")
    with op.batch_alter_table("referral_case") as batch_op:
        batch_op.drop_index("ix_referral_case_risk_level")
        batch_op.drop_index("ix_referral_case_owner_id")
        for column in (
            "closed_at",
            "closing_summary_ciphertext",
            "outcome",
            "child_name_ciphertext",
            "child_district",
            "child_school_stage",
            "child_age",
            "child_sex",
            "risk_reason_ciphertext",
            "risk_level",
            "owner_id",
        ):
            batch_op.drop_column(column)
    for table in _NEW_TABLES:
        op.drop_table(table)
