"""Each boot's monotonic offset: a scan's time survives its station's clock stepping.

``agent_clocks.boot_offset_s`` is the hub's time minus the agent's monotonic time for one
boot (hub/ingest/clocks.py). A boot measured before this revision has none, and its scans
keep their own times until its next heartbeat.

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa

from hub.store.migrations import columns

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def _columns() -> list[sa.Column[object]]:
    return [sa.Column("boot_offset_s", sa.Float)]


def upgrade() -> None:
    columns.add_missing("agent_clocks", _columns())


def downgrade() -> None:
    columns.drop("agent_clocks", _columns())
