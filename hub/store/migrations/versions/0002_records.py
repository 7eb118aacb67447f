"""Reference data, derived records, the audit log, agent clocks; scan_log.event_at.

Revision ID: 0002
Revises: 0001

Before the first release this creates the new tables from ``hub/store/records.py``; a
migration written after a release must spell its tables out, as 0001 does.
"""

import sqlalchemy as sa
from alembic import op

from hub.store import records
from hub.store.tables import metadata

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = [
    *records.REFERENCE.values(),
    *records.RECORDS,
    records.audit_log,
    records.agent_clocks,
]


def upgrade() -> None:
    with op.batch_alter_table("scan_log") as batch:
        batch.add_column(sa.Column("event_at", sa.DateTime(timezone=True), nullable=True))
    metadata.create_all(op.get_bind(), tables=TABLES)


def downgrade() -> None:
    metadata.drop_all(op.get_bind(), tables=TABLES)
    with op.batch_alter_table("scan_log") as batch:
        batch.drop_column("event_at")
