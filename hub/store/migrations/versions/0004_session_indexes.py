"""Indexes to find a tray's assemblies by the tray (containment) and a station's open
case (the next case closes it).

Revision ID: 0004
Revises: 0003

A database created at this revision already has it: 0002 creates the record tables from
``hub/store/records.py`` as it is now.
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_sessions_key", "sessions", ["key", "opened_key"], if_not_exists=True)
    op.create_index("ix_sessions_agent", "sessions", ["agent_id", "opened_key"], if_not_exists=True)


def downgrade() -> None:
    op.drop_index("ix_sessions_agent", table_name="sessions")
    op.drop_index("ix_sessions_key", table_name="sessions")
