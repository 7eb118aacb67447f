"""The foundation: raw scan log, agent streams and sync state, dead letters, alerts.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "scan_log",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("agent_id", sa.String(64), nullable=False),
        sa.Column("incarnation", sa.String(64), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("scanned_at", Ts, nullable=False),
        sa.Column("received_at", Ts, nullable=False),
        sa.Column("raw", sa.Text, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.UniqueConstraint("agent_id", "incarnation", "seq", name="uq_scan_log_key"),
    )
    op.create_table(
        "agent_streams",
        sa.Column("agent_id", sa.String(64), primary_key=True),
        sa.Column("incarnation", sa.String(64), primary_key=True),
        sa.Column("confirmed_seq", sa.BigInteger, nullable=False),
        sa.Column("max_seen_seq", sa.BigInteger, nullable=False),
        sa.Column("gap_since", Ts, nullable=True),
        sa.Column("updated_at", Ts, nullable=False),
    )
    op.create_table(
        "agents",
        sa.Column("agent_id", sa.String(64), primary_key=True),
        sa.Column("incarnation", sa.String(64), nullable=True),
        sa.Column("state", sa.String(16), nullable=True),
        sa.Column("version", sa.String(128), nullable=True),
        sa.Column("station", sa.String(128), nullable=True),
        sa.Column("mode", sa.String(128), nullable=True),
        sa.Column("last_seen_at", Ts, nullable=True),
        sa.Column("status_at", Ts, nullable=True),
        sa.Column("backlog", sa.BigInteger, nullable=True),
        sa.Column("oldest_unconfirmed_age_s", sa.Float, nullable=True),
        sa.Column("health", sa.Text, nullable=True),
        sa.Column("health_at", Ts, nullable=True),
    )
    op.create_table(
        "dead_letters",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("received_at", Ts, nullable=False),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("agent_id", sa.String(64), nullable=True),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("payload_bytes", sa.Integer, nullable=False),
    )
    op.create_table(
        "alerts",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("created_at", Ts, nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("agent_id", sa.String(64), nullable=True),
        sa.Column("detail", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for table in ("alerts", "dead_letters", "agents", "agent_streams", "scan_log"):
        op.drop_table(table)
