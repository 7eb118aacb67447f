"""A person's access can be taken away: ``users.disabled_at``.

A disabled user cannot sign in, and disabling ends their sessions (hub/store/users.py).

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa

from hub.store.migrations import columns

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def _columns() -> list[sa.Column[object]]:
    return [sa.Column("disabled_at", sa.DateTime(timezone=True))]


def upgrade() -> None:
    columns.add_missing("users", _columns())


def downgrade() -> None:
    columns.drop("users", _columns())
