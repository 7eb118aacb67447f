"""Bulk writes store what SQLAlchemy would, row for row, on SQLite (executemany) and on
PostgreSQL (one statement over arrays): NULLs, times, big integers, quotes and
backslashes come back as written, and a value too long for its column is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from hub.errors import BadData
from hub.store.db import Bulk, create_engine, mapped
from tests.harness.postgres import Postgres

metadata = sa.MetaData()
things = sa.Table(
    "things",
    metadata,
    sa.Column("id", sa.String(16), primary_key=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("count", sa.BigInteger, nullable=True),
    sa.Column("ok", sa.Boolean, nullable=True),
    sa.Column("note", sa.Text, nullable=True),
)
INSERT = Bulk.insert(things, ("id", "at", "count", "ok", "note"), ignore=True)
UPDATE = Bulk.update(things, ("count", "note"))
AT = datetime(2026, 12, 6, 7, 0, tzinfo=UTC)
ODD = "say \"hi\", {a,b} \\ NULL 'x' ü\n"


def _rows(engine: sa.Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(things).order_by(things.c.id)).all()
    return [(r.id, r.at.replace(tzinfo=UTC) if r.at else None, r.count, r.ok, r.note) for r in rows]


def test_bulk_insert_and_update_store_every_value_as_given(database_url: str) -> None:
    engine = create_engine(database_url)
    metadata.create_all(engine)
    rows = [
        ("a", AT, 2**40, True, ODD),
        ("b", None, None, None, None),
        ("c", AT + timedelta(microseconds=1), -1, False, ""),
    ]
    with engine.begin() as conn:
        INSERT(conn, rows)
        INSERT(conn, [("a", None, 0, False, "ignored: the key exists")])
    assert _rows(engine) == rows
    with engine.begin() as conn:
        UPDATE(conn, [(7, "seven", "b"), (None, ODD + "!", "c")])
    assert _rows(engine) == [
        rows[0],
        ("b", None, 7, None, "seven"),
        ("c", rows[2][1], None, False, ODD + "!"),
    ]
    engine.dispose()


def test_on_postgresql_a_value_too_long_for_its_column_is_refused_not_cut(
    postgres: Postgres,
) -> None:
    """SQLite does not check lengths; PostgreSQL does, and an array cast must not cut."""
    engine = create_engine(postgres.create_database())
    metadata.create_all(engine)
    with pytest.raises(BadData), mapped(), engine.begin() as conn:
        INSERT(conn, [("x" * 17, None, None, None, None)])
    assert _rows(engine) == []
    engine.dispose()
