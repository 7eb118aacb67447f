"""The projector's cursors and queue, one clock per agent and boot, columns as wide as the
wire.

Revision ID: 0003
Revises: 0002

Scans stored before this revision were reconciled in their ingest transaction, so each
stream's cursor starts at its watermark.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# (table, column, new width): each held a wire field in fewer characters than the wire allows.
WIDENED = [
    ("sessions", "kind", 128),
    ("cycles", "cycle_number", 128),
    ("cycles", "cycle_type", 128),
    ("session_items", "condition", 128),
    ("usage_logs", "condition", 128),
    ("items", "condition", 128),
]


def upgrade() -> None:
    op.add_column(
        "agent_streams",
        sa.Column("projected_seq", sa.BigInteger, nullable=False, server_default="0"),
    )
    op.execute("UPDATE agent_streams SET projected_seq = confirmed_seq")
    op.create_table(
        "projection_queue",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("agent_id", sa.String(64), nullable=False),
        sa.Column("incarnation", sa.String(64), nullable=False),
        sa.Column("after_seq", sa.BigInteger, nullable=False),
        sa.Column("upto_seq", sa.BigInteger, nullable=False),
    )
    # Clock estimates are live state, measured again within one heartbeat: start afresh.
    op.drop_table("agent_clocks")
    op.create_table(
        "agent_clocks",
        sa.Column("agent_id", sa.String(64), primary_key=True),
        sa.Column("boot_id", sa.String(128), primary_key=True),
        sa.Column("offset_s", sa.Float, nullable=False),
        sa.Column("measured_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("skewed", sa.Boolean, nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":  # SQLite does not enforce VARCHAR widths
        for table, column, width in WIDENED:
            op.alter_column(table, column, type_=sa.String(width))


def downgrade() -> None:
    raise NotImplementedError("0003 is not reversible: restore a backup instead")
