"""The raw scan log and the watermark, on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from hub.ingest import inbox
from hub.store.db import create_engine, migrate
from hub.store.tables import agent_streams, scan_log
from protocol.messages import EventBatch
from tests.harness import factories

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def _store(conn: sa.Connection, *batches: EventBatch) -> inbox.Stored:
    scans: dict[tuple[str, str], dict[int, object]] = {}
    for batch in batches:
        stream = scans.setdefault((batch.agent_id, batch.incarnation), {})
        stream.update({event.seq: event for event in batch.events})
    return inbox.store(conn, scans, NOW, lambda event: event.scanned_at)  # type: ignore[arg-type]


def test_gap_holds_watermark_and_asks_for_resend(database_url: str) -> None:
    """Scans above a gap are stored but the watermark stops before it and asks for just
    the missing range."""
    engine = create_engine(database_url)
    migrate(engine)
    with engine.begin() as conn:
        _store(conn, factories.batch("pi-g", range(1, 4)))
        (progress,) = _store(conn, factories.batch("pi-g", range(6, 9))).progress
    assert (progress.confirmed_seq, progress.max_seen_seq) == (3, 8)
    assert (progress.resend_from, progress.resend_to) == (4, 5)
    with engine.begin() as conn:
        (progress,) = _store(conn, factories.batch("pi-g", range(4, 6))).progress
    assert (progress.confirmed_seq, progress.resend_from, progress.resend_to) == (8, None, None)
    engine.dispose()


def test_exact_duplicates_are_ignored_and_conflicts_reported(database_url: str) -> None:
    """The same scan twice is stored once; the same key with new content is a conflict."""
    engine = create_engine(database_url)
    migrate(engine)
    first = factories.batch("pi-d", range(1, 3))
    with engine.begin() as conn:
        assert len(_store(conn, first).new) == 2
        again = _store(conn, first)
        forged = _store(conn, factories.batch("pi-d", range(2, 3), raw="X"))
        count = conn.execute(sa.select(sa.func.count()).select_from(scan_log)).scalar_one()
    assert (len(again.new), again.duplicates, again.conflicts) == (0, 2, [])
    assert [event.seq for event in forged.conflicts] == [2]
    assert count == 2
    engine.dispose()


def test_many_streams_in_one_call_each_move_their_own_watermark(database_url: str) -> None:
    """Scans of several agents stored together each advance only their own stream, and a
    later gap in one stream holds back only that stream."""
    engine = create_engine(database_url)
    migrate(engine)
    with engine.begin() as conn:
        _store(conn, *(factories.batch(f"pi-{n}", range(1, 3)) for n in range(30)))
        stored = _store(
            conn, factories.batch("pi-0", range(4, 5)), factories.batch("pi-1", range(3, 6))
        )
        query = sa.select(agent_streams.c.agent_id, agent_streams.c.confirmed_seq)
        rows = {agent_id: confirmed for agent_id, confirmed in conn.execute(query)}
    by_agent = {p.agent_id: p for p in stored.progress}
    assert (by_agent["pi-0"].confirmed_seq, by_agent["pi-0"].resend_from) == (2, 3)
    assert (by_agent["pi-1"].confirmed_seq, by_agent["pi-1"].resend_from) == (5, None)
    assert len(rows) == 30 and rows["pi-7"] == 2
    engine.dispose()


def test_the_projection_queue_keeps_the_order_messages_arrived_in_across_agents() -> None:
    """Two agents' scans interleaved in one batch are queued in arrival order, cut per
    message; a scan held above a gap is queued with the message that filled the gap."""
    a = inbox.StreamProgress("a", "i", confirmed_seq=5, max_seen_seq=5, previous_confirmed_seq=0)
    b = inbox.StreamProgress("b", "i", confirmed_seq=2, max_seen_seq=2, previous_confirmed_seq=0)
    # Messages in order: a1-2, b1, a3, b2, and a4 fills a gap below a5 (stored earlier).
    arrival = {("a", "i", 1): 0, ("a", "i", 2): 0, ("b", "i", 1): 1, ("a", "i", 3): 2}
    arrival |= {("b", "i", 2): 3, ("a", "i", 4): 4}
    assert inbox.queue_order([a, b], arrival) == [
        ("a", "i", 0, 2),
        ("b", "i", 0, 1),
        ("a", "i", 2, 3),
        ("b", "i", 1, 2),
        ("a", "i", 3, 5),
    ]
