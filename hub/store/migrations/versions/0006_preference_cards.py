"""Preference cards: the trays each scheduled case needs (``ref_cases.trays``).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa

from hub.store.migrations import columns

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _added() -> list[sa.Column[object]]:
    return [sa.Column("trays", sa.Text)]


def upgrade() -> None:
    columns.add_missing("ref_cases", _added())


def downgrade() -> None:
    columns.drop("ref_cases", _added())
