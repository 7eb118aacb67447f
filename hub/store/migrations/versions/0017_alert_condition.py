"""Alert-once in the database.

An alert raised once per condition carries that condition's key (its kind and what it is
about: a gap's range, a case, an asset's due date, a station's clock, an unregistered
code), unique among open alerts. A transaction that rolled back took its alert with it,
and a restarted hub finds the open one: neither loses nor repeats it. Alerts open before
this revision have no key; each may be raised once more.

And each station's newest scan says whether its clock was synced, so the hub's checks
resolve ``clock_unsynced`` without a statement on every ingest transaction.

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

from hub.store.migrations import columns

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

OPEN = sa.text("resolved_at IS NULL")


def _alert_columns() -> list[sa.Column[object]]:
    return [sa.Column("condition", sa.String(512))]


def _agent_columns() -> list[sa.Column[object]]:
    return [sa.Column("clock_synced", sa.Boolean)]


def upgrade() -> None:
    columns.add_missing("alerts", _alert_columns())
    columns.add_missing("agents", _agent_columns())
    op.create_index(
        "uq_alerts_open_condition",
        "alerts",
        ["condition"],
        unique=True,
        sqlite_where=OPEN,
        postgresql_where=OPEN,
    )


def downgrade() -> None:
    op.drop_index("uq_alerts_open_condition", table_name="alerts")
    columns.drop("agents", _agent_columns())
    columns.drop("alerts", _alert_columns())
