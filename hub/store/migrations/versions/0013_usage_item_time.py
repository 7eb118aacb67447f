"""The uses of an item in a time window by index: the recall reads each recalled item's
uses between its load and its next reprocessing. The index on item alone made SQLite read
every use of the item, a year of them at a hospital's volume.

Revision ID: 0013
Revises: 0012

A database created at this revision already has it: 0002 creates the record tables from
``hub/store/records.py`` as it is now.
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_usage_item_used", "usage_logs", ["item", "used_at"], if_not_exists=True)
    op.drop_index("ix_usage_item", table_name="usage_logs", if_exists=True)


def downgrade() -> None:
    op.create_index("ix_usage_item", "usage_logs", ["item"])
    op.drop_index("ix_usage_item_used", table_name="usage_logs")
