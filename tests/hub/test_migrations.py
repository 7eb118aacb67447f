"""Migrations bring a database made by an earlier release up to date."""

from __future__ import annotations

import sqlalchemy as sa

from hub.store.db import create_engine, migrate

DROPPED = [
    ("ref_instruments", "implant"),
    ("cycles", "implant"),
    ("cycles", "released_by"),
    ("cycles", "early_release_reason"),
    ("ref_cases", "trays"),
    ("assets", "inspection_due"),
    ("equipment_logs", "lent_by"),
    ("equipment_logs", "due_back"),
]
# 0001 made these tables with the columns it knew; later revisions add these.
ADDED = [
    ("alerts", "acknowledged_at"),
    ("alerts", "ack_note"),
    ("dead_letters", "replayed_at"),
    ("dead_letters", "replay_result"),
]


def test_a_database_at_0003_gains_every_later_index_and_column(
    database_url: str,
) -> None:
    """A 0003 database (0002 makes today's tables, so what later revisions add is removed
    first, as a 0003 release had it) has the indexes and columns after the upgrade."""
    engine = create_engine(database_url)
    migrate(engine, "0003")
    with engine.begin() as conn:
        for index in ("ix_sessions_key", "ix_sessions_agent", "ix_usage_item_used"):
            conn.execute(sa.text(f"DROP INDEX {index}"))
        conn.execute(sa.text("CREATE INDEX ix_usage_item ON usage_logs (item)"))  # until 0013
        for table, column in DROPPED:
            conn.execute(sa.text(f"ALTER TABLE {table} DROP COLUMN {column}"))
        for table in ("inspections", "ref_asset_models"):
            conn.execute(sa.text(f"DROP TABLE {table}"))
    migrate(engine)
    inspector = sa.inspect(engine)
    indexes = {i["name"] for i in inspector.get_indexes("sessions")}
    assert {"ix_sessions_key", "ix_sessions_agent"} <= indexes
    usage = {i["name"]: i["column_names"] for i in inspector.get_indexes("usage_logs")}
    assert usage == {"ix_usage_item_used": ["item", "used_at"]}
    for table, column in DROPPED + ADDED:
        assert column in {c["name"] for c in inspector.get_columns(table)}
    assert inspector.has_table("inspections") and inspector.has_table("ref_asset_models")
    engine.dispose()
