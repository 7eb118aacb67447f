"""The full load record (AAMI ST79): implants, exposure, temperature, the chemical
indicator, the BI's lot and expiry, and who released the load.

Revision ID: 0005
Revises: 0004

A database created at this revision already has these columns: 0002 creates the record
tables from ``hub/store/records.py`` as it is now.
"""

import sqlalchemy as sa

from hub.store.migrations import columns
from hub.store.tables import Code, ShortText

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _added() -> dict[str, list[sa.Column[object]]]:
    """New Column objects on each call: a Column belongs to one table once added."""
    return {
        "ref_instruments": [
            sa.Column("implant", sa.Boolean, nullable=False, server_default=sa.false())
        ],
        "cycles": [
            sa.Column("implant", sa.Boolean, nullable=False, server_default=sa.false()),
            sa.Column("exposure_min", ShortText),
            sa.Column("temperature_c", ShortText),
            sa.Column("ci_result", ShortText),
            sa.Column("bi_lot", ShortText),
            sa.Column("bi_expiry", ShortText),
            sa.Column("released_by", Code),
        ],
    }


def upgrade() -> None:
    for table, added in _added().items():
        columns.add_missing(table, added)


def downgrade() -> None:
    for table, added in _added().items():
        columns.drop(table, added)
