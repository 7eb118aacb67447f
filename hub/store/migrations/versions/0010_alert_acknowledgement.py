"""Alerts can be acknowledged, by whom and with a note.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa

from hub.store.migrations import columns

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _added() -> list[sa.Column[object]]:
    return [
        sa.Column("acknowledged_at", sa.DateTime(timezone=True)),
        sa.Column("acknowledged_by", sa.String(128)),
        sa.Column("ack_note", sa.Text),
    ]


def upgrade() -> None:
    columns.add_missing("alerts", _added())


def downgrade() -> None:
    columns.drop("alerts", _added())
