"""Alert lifecycle and station history.

Alerts say what they are about and when the hub saw their condition end: a subject (the
key a page links), resolved_at and resolved_reason; open alerts of a kind by index, so the
writer's checks find the ones to resolve without reading every alert. And each station's
connection history (agent_events): when it went offline, came back, and caught up.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

from hub.store.migrations import columns
from protocol.messages import MAX_ID_CHARS

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

OPEN = sa.text("resolved_at IS NULL")


def _added() -> list[sa.Column[object]]:
    return [
        sa.Column("subject", sa.String(512)),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
        sa.Column("resolved_reason", sa.Text),
    ]


def upgrade() -> None:
    op.create_table(
        "agent_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("agent_id", sa.String(MAX_ID_CHARS), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("backlog", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_agent_events_agent", "agent_events", ["agent_id", "id"])
    columns.add_missing("alerts", _added())
    op.create_index(
        "ix_alerts_open",
        "alerts",
        ["kind", "agent_id"],
        sqlite_where=OPEN,
        postgresql_where=OPEN,
    )


def downgrade() -> None:
    op.drop_index("ix_agent_events_agent", table_name="agent_events")
    op.drop_table("agent_events")
    op.drop_index("ix_alerts_open", table_name="alerts")
    columns.drop("alerts", _added())
