"""The sterilizer's own record of each cycle (issue 32).

- ``cycle_captures``: one row per cycle a sterilizer station recognised in its
  sterilizer's serial record, judged against its cycle type when it ended, and the load
  it belongs to (hub/reconcile/capture.py).
- ``cycle_readings``: the lines of that record, one row each, as the sterilizer printed
  them and as the station read them.
- ``cycles`` gains the capture it was judged by and its physical result, which a load
  must pass to be released.
- ``ref_sterilizers`` gains each sterilizer's own cycle parameters, over ST79's defaults.

Records, like the rest of ``records.RECORDS``: ``rebuild`` derives them again. 0002
creates the record tables as records.py has them now, so a new database has these
already: each is made, and each column added, only where it is missing.

Revision ID: 0022
Revises: 0021
"""

import sqlalchemy as sa
from alembic import op

from hub.store.migrations import columns

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

Key = sa.String(160)
Short = sa.String(128)
Code = sa.String(512)
Stamp = sa.DateTime(timezone=True)


def _cycle_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("capture", Short),
        sa.Column("physical_result", sa.String(8)),
        sa.Column("physical_key", Key),
        sa.Column("physical_reason", sa.Text),
    ]


def _parameters() -> list[sa.Column[object]]:
    return [sa.Column("cycle_parameters", sa.Text, nullable=False, server_default="{}")]


def upgrade() -> None:
    columns.add_missing("ref_sterilizers", _parameters())
    columns.add_missing("cycles", _cycle_columns())
    inspector = sa.inspect(op.get_bind())
    if "ix_cycles_physical_failed" not in {i["name"] for i in inspector.get_indexes("cycles")}:
        op.create_index(
            "ix_cycles_physical_failed",
            "cycles",
            ["session_id"],
            sqlite_where=sa.text("physical_result = 'fail'"),
            postgresql_where=sa.text("physical_result = 'fail'"),
        )
    present = inspector.get_table_names()
    if "cycle_captures" not in present:
        op.create_table(
            "cycle_captures",
            sa.Column("cycle_id", Short, primary_key=True),
            sa.Column("sterilizer", Code, nullable=False),
            sa.Column("cycle_number", Short),
            sa.Column("agent_id", sa.String(64), nullable=False),
            sa.Column("started_key", Key, nullable=False),
            sa.Column("started_at", Stamp, nullable=False),
            sa.Column("load", Short),
            sa.Column("judged_key", Key),
            sa.Column("ended_at", Stamp),
            sa.Column("result", sa.String(8)),
            sa.Column("reasons", sa.Text),
            sa.Column("cycle_type", Short),
            sa.Column("set_c", sa.Float),
            sa.Column("exposure_needed_s", sa.Float),
            sa.Column("exposure_held_s", sa.Float),
            sa.Column("exposure_min_c", sa.Float),
            sa.Column("exposure_max_c", sa.Float),
            sa.Column("longest_gap_s", sa.Float),
            sa.Column("completed", sa.Boolean),
            sa.Column("aborted", sa.Boolean),
            sa.Column("readings", sa.Integer, nullable=False, server_default="0"),
            sa.Column("unreadable", sa.Integer, nullable=False, server_default="0"),
        )
        op.create_index(
            "ix_cycle_captures_sterilizer", "cycle_captures", ["sterilizer", "started_key"]
        )
        op.create_index("ix_cycle_captures_load", "cycle_captures", ["load"])
    if "cycle_readings" not in present:
        op.create_table(
            "cycle_readings",
            sa.Column("cycle_id", Short, primary_key=True),
            sa.Column("event_key", Key, primary_key=True),
            sa.Column("at", Stamp, nullable=False),
            sa.Column("elapsed_s", sa.Float),
            sa.Column("phase", sa.String(16)),
            sa.Column("load_c", sa.Float),
            sa.Column("chamber_c", sa.Float),
            sa.Column("jacket_c", sa.Float),
            sa.Column("pressure_kpa", sa.Float),
            sa.Column("raw", sa.Text, nullable=False),
            sa.Column("unreadable", Short),
        )


def downgrade() -> None:
    op.drop_table("cycle_readings")
    op.drop_index("ix_cycle_captures_load", "cycle_captures")
    op.drop_index("ix_cycle_captures_sterilizer", "cycle_captures")
    op.drop_table("cycle_captures")
    op.drop_index("ix_cycles_physical_failed", "cycles")
    columns.drop("cycles", _cycle_columns())
    columns.drop("ref_sterilizers", _parameters())
