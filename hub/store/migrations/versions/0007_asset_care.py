"""Asset care: statuses set by command, inspections with a due date, who lent a loan and
when it is due back, asset models with their intervals.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

from hub.store.migrations import columns
from hub.store.tables import Code, Timestamp

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

Key = sa.String(160)


def _added() -> dict[str, list[sa.Column[object]]]:
    return {
        "ref_assets": [
            sa.Column("inspection_interval_days", sa.Integer),
            sa.Column("loan_period_days", sa.Integer),
        ],
        "assets": [
            sa.Column("inspected_at", Timestamp),
            sa.Column("inspection_key", Key),
            sa.Column("inspection_result", sa.String(8)),
            sa.Column("inspection_due", Timestamp),
        ],
        "equipment_events": [sa.Column("by", Code)],
        "equipment_logs": [sa.Column("lent_by", Code), sa.Column("due_back", Timestamp)],
    }


def upgrade() -> None:
    for table, added in _added().items():
        columns.add_missing(table, added)
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table("ref_asset_models"):
        op.create_table(
            "ref_asset_models",
            sa.Column("code", Code, primary_key=True),
            sa.Column("inspection_interval_days", sa.Integer),
            sa.Column("loan_period_days", sa.Integer),
        )
    if not inspector.has_table("inspections"):
        op.create_table(
            "inspections",
            sa.Column("asset", Code, primary_key=True),
            sa.Column("event_key", Key, primary_key=True),
            sa.Column("result", sa.String(8), nullable=False),
            sa.Column("at", Timestamp, nullable=False),
            sa.Column("inspector", Code),
            sa.Column("next_due", Timestamp),
        )


def downgrade() -> None:
    op.drop_table("inspections")
    op.drop_table("ref_asset_models")
    for table, added in _added().items():
        columns.drop(table, added)
