"""An implant load may be released before its BI passes, with a reason.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa

from hub.store.migrations import columns

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _added() -> list[sa.Column[object]]:
    return [sa.Column("early_release_reason", sa.String(128))]


def upgrade() -> None:
    columns.add_missing("cycles", _added())


def downgrade() -> None:
    columns.drop("cycles", _added())
