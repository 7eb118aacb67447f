"""People with passwords, and browser sessions as short-lived tokens.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

from hub.store.tables import Id, Timestamp

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("kind", sa.String(8), nullable=False, server_default="api"))
        batch.add_column(sa.Column("parent_id", Id, nullable=True))
    op.create_table(
        "users",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_argon2", sa.String(256), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("users")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("parent_id")
        batch.drop_column("kind")
