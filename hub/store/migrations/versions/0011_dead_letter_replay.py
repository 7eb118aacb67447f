"""A dead letter can be replayed once its cause is fixed: when, by whom, and what came of it.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa

from hub.store.migrations import columns

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _added() -> list[sa.Column[object]]:
    return [
        sa.Column("replayed_at", sa.DateTime(timezone=True)),
        sa.Column("replayed_by", sa.String(128)),
        sa.Column("replay_result", sa.Text),
    ]


def upgrade() -> None:
    columns.add_missing("dead_letters", _added())


def downgrade() -> None:
    columns.drop("dead_letters", _added())
