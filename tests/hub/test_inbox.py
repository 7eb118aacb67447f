"""The raw scan log and the watermark, on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from hub.ingest import inbox
from hub.store.db import create_engine, migrate
from hub.store.tables import scan_log
from tests.harness import factories

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def test_gap_holds_watermark_and_asks_for_resend(database_url: str) -> None:
    """Scans above a gap are stored but the watermark stops before it and asks for just
    the missing range."""
    engine = create_engine(database_url)
    migrate(engine)
    with engine.begin() as conn:
        inbox.store_events(conn, factories.batch("pi-g", range(1, 4)), NOW)
        inbox.store_events(conn, factories.batch("pi-g", range(6, 9)), NOW)
        progress = inbox.advance(conn, "pi-g", "inc1", 8, NOW)
    assert (progress.confirmed_seq, progress.max_seen_seq) == (3, 8)
    assert (progress.resend_from, progress.resend_to) == (4, 5)
    with engine.begin() as conn:
        inbox.store_events(conn, factories.batch("pi-g", range(4, 6)), NOW)
        progress = inbox.advance(conn, "pi-g", "inc1", 5, NOW)
    assert (progress.confirmed_seq, progress.resend_from, progress.resend_to) == (8, None, None)
    engine.dispose()


def test_exact_duplicates_are_ignored_and_conflicts_reported(database_url: str) -> None:
    """The same scan twice is stored once; the same key with new content is a conflict."""
    engine = create_engine(database_url)
    migrate(engine)
    first = factories.batch("pi-d", range(1, 3))
    with engine.begin() as conn:
        assert inbox.store_events(conn, first, NOW).new == 2
        again = inbox.store_events(conn, first, NOW)
        forged = inbox.store_events(conn, factories.batch("pi-d", range(2, 3), raw="X"), NOW)
        count = conn.execute(sa.select(sa.func.count()).select_from(scan_log)).scalar_one()
    assert (again.new, again.duplicates, again.conflicts) == (0, 2, ())
    assert forged.conflicts == (2,)
    assert count == 2
    engine.dispose()
