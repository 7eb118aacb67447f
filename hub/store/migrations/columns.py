"""Adding columns to the record tables, which 0002 creates from ``hub/store/records.py``
as it is now: a database made at a later revision already has them, one made before
does not."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


def add_missing(table: str, columns: list[sa.Column[object]]) -> None:
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns(table)}
    missing = [column for column in columns if column.name not in present]
    if missing:
        with op.batch_alter_table(table) as batch:
            for column in missing:
                batch.add_column(column)


def drop(table: str, columns: list[sa.Column[object]]) -> None:
    with op.batch_alter_table(table) as batch:
        for column in columns:
            batch.drop_column(column.name)
