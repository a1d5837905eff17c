"""expert feed links stored as a nonce and a token hash, like the site feed (booking.feed_links)

The plain `expert.feed_token` goes. A link made before keeps working: its SHA-256 becomes the stored hash
(`feed_nonce` stays NULL), but it cannot be shown again; the expert or a coordinator makes a new one to
see an address. The data key is not needed here, so the migration runs wherever the database is.

Revision ID: 0018
Revises: 0016
"""

from __future__ import annotations

import hashlib
import secrets

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0016"
branch_labels = None
depends_on = None

_expert = sa.table(
    "expert",
    sa.column("id", sa.Integer()),
    sa.column("feed_token", sa.String()),
    sa.column("feed_token_hash", sa.String()),
)


def upgrade() -> None:
    with op.batch_alter_table("expert") as batch:
        batch.add_column(sa.Column("feed_nonce", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("feed_token_hash", sa.String(length=64), nullable=True))
    connection = op.get_bind()
    for expert_id, token in connection.execute(sa.select(_expert.c.id, _expert.c.feed_token)).all():
        digest = hashlib.sha256(token.encode()).hexdigest()
        connection.execute(_expert.update().where(_expert.c.id == expert_id).values(feed_token_hash=digest))
    with op.batch_alter_table("expert") as batch:
        batch.alter_column("feed_token_hash", existing_type=sa.String(length=64), nullable=False)
        batch.create_unique_constraint("uq_expert_feed_token_hash", ["feed_token_hash"])
        batch.drop_column("feed_token")


def downgrade() -> None:
    # The plain tokens are gone: every expert gets a fresh link.
    with op.batch_alter_table("expert") as batch:
        batch.add_column(sa.Column("feed_token", sa.String(length=64), nullable=True))
    connection = op.get_bind()
    for (expert_id,) in connection.execute(sa.select(_expert.c.id)).all():
        connection.execute(
            _expert.update().where(_expert.c.id == expert_id).values(feed_token=secrets.token_urlsafe(32))
        )
    with op.batch_alter_table("expert") as batch:
        batch.alter_column("feed_token", existing_type=sa.String(length=64), nullable=False)
        batch.create_unique_constraint("expert_feed_token_key", ["feed_token"])
        batch.drop_constraint("uq_expert_feed_token_hash", type_="unique")
        batch.drop_column("feed_nonce")
        batch.drop_column("feed_token_hash")
