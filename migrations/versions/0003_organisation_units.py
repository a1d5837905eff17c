"""organisation units and staff security: the unit tree, the unit of every staff user, case, call, expert
and site; two-factor login (TOTP secret, recovery codes), forced password change and last login

Every existing row moves into one default unit (id 1), which an administrator renames and places.

On SQLite the new `unit_id` columns carry no FOREIGN KEY clause: SQLite cannot add a referencing column
with a default, and the batch copy that would add one drops and recreates tables that others reference,
which fails on a database with data while foreign keys are enforced. Units are never deleted (only
deactivated), so the reference cannot dangle; PostgreSQL enforces it.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Tables whose rows belong to a unit, in the order their unit is filled in.
_OWNED = ("staff_user", "referral_case", "hotline_call", "site", "expert")


def upgrade() -> None:
    units = op.create_table(
        "org_unit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), sa.ForeignKey("org_unit.id"), nullable=True),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("path", sa.String(length=255), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("path"),
    )
    op.create_index("ix_org_unit_parent_id", "org_unit", ["parent_id"])
    op.bulk_insert(
        units,
        [
            {
                "id": 1,
                "parent_id": None,
                "name": "本单位",
                "kind": "other",
                "region_code": "",
                "path": "/1/",
                "active": True,
                "created_at": core.db.utcnow(),
            }
        ],
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        # The row above set its id by hand; the sequence must not hand out 1 again.
        op.execute("SELECT setval(pg_get_serial_sequence('org_unit', 'id'), 1)")
    for table in _OWNED:
        op.add_column(table, sa.Column("unit_id", sa.Integer(), nullable=False, server_default="1"))
        op.create_index(f"ix_{table}_unit_id", table, ["unit_id"])
        if bind.dialect.name == "postgresql":
            op.create_foreign_key(f"fk_{table}_unit_id", table, "org_unit", ["unit_id"], ["id"])
            # The default only filled the existing rows: a new row must name its unit, or it fails.
            op.alter_column(table, "unit_id", server_default=None)

    with op.batch_alter_table("staff_user") as batch_op:
        batch_op.add_column(sa.Column("last_login_at", core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("must_change_password", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("totp_secret_ciphertext", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("totp_enabled_at", core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("totp_last_step", sa.Integer(), nullable=True))
    with op.batch_alter_table("login_session") as batch_op:
        batch_op.add_column(
            sa.Column("second_factor_pending", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "recovery_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("staff_user.id"), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("used_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code_hash"),
    )
    op.create_index("ix_recovery_code_user_id", "recovery_code", ["user_id"])


def downgrade() -> None:
    with op.batch_alter_table("login_session") as batch_op:
        batch_op.drop_column("second_factor_pending")
    op.drop_index("ix_recovery_code_user_id", table_name="recovery_code")
    op.drop_table("recovery_code")
    with op.batch_alter_table("staff_user") as batch_op:
        for column in ("totp_last_step", "totp_enabled_at", "totp_secret_ciphertext", "must_change_password"):
            batch_op.drop_column(column)
        batch_op.drop_column("last_login_at")
    bind = op.get_bind()
    for table in reversed(_OWNED):
        if bind.dialect.name == "postgresql":
            op.drop_constraint(f"fk_{table}_unit_id", table, type_="foreignkey")
        op.drop_index(f"ix_{table}_unit_id", table_name=table)
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column("unit_id")
    op.drop_index("ix_org_unit_parent_id", table_name="org_unit")
    op.drop_table("org_unit")
