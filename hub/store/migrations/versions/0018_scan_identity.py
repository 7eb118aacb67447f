"""A scan is stored once by its event id, whatever numbering it arrives under.

A station whose outbox was restored from an old copy, or rebuilt from a corrupt file,
re-sends what it holds under a new incarnation (agent/outbox.py ``renumber``). Some of it
the hub already holds under the old numbering. Such a scan is kept in the new stream, so
the stream has no gap, with ``duplicate`` set, and the projector never applies it: the
event id is the hub's idempotency key (DESIGN.md §3).

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

from hub.store.migrations import columns

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def _columns() -> list[sa.Column[object]]:
    return [sa.Column("duplicate", sa.Boolean, nullable=False, server_default=sa.false())]


def upgrade() -> None:
    columns.add_missing("scan_log", _columns())
    op.create_index("ix_scan_log_event_id", "scan_log", ["event_id"])


def downgrade() -> None:
    op.drop_index("ix_scan_log_event_id", table_name="scan_log")
    columns.drop("scan_log", _columns())
