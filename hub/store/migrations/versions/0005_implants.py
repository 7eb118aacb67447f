"""Implants: the catalogue marks an instrument as an implant, a load records that it held
one (it is then held until its biological indicator passes).

Revision ID: 0005
Revises: 0004

A database created at this revision already has both columns: 0002 creates the record
tables from ``hub/store/records.py`` as it is now.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ADDED = [("ref_instruments", "implant"), ("cycles", "implant")]


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    for table, column in ADDED:
        if column not in {c["name"] for c in inspector.get_columns(table)}:
            with op.batch_alter_table(table) as batch:
                batch.add_column(
                    sa.Column(column, sa.Boolean, nullable=False, server_default=sa.false())
                )


def downgrade() -> None:
    for table, column in ADDED:
        with op.batch_alter_table(table) as batch:
            batch.drop_column(column)
