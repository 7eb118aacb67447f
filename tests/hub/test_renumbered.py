"""A station that renumbered what it holds (its outbox restored from an old copy, or
rebuilt from a corrupt file): the hub names the conflict in its ack, keeps each event id
once in the records, and still closes the new stream without a gap (SQLite, PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from hub.ingest import inbox
from hub.reconcile.rebuild import rebuild
from hub.store import records
from hub.store.db import create_engine, migrate
from hub.store.tables import scan_log
from protocol.messages import ScanEvent
from tests.harness import factories
from tests.harness.stations import HubUnderTest, ScriptedStation

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def _store(conn: sa.Connection, events: list[ScanEvent]) -> inbox.Stored:
    key = (events[0].agent_id, events[0].incarnation)
    return inbox.store(conn, {key: {e.seq: e for e in events}}, NOW, lambda event: event.scanned_at)


def _renumbered(events: list[ScanEvent], incarnation: str) -> list[ScanEvent]:
    return [
        e.model_copy(update={"incarnation": incarnation, "seq": n})
        for n, e in enumerate(events, start=1)
    ]


def test_a_seq_held_with_other_content_is_named_in_the_streams_progress(database_url: str) -> None:
    """The first seq that came again with other content is the progress's conflict_seq;
    the hub keeps its own version and nothing after it is lost from the watermark."""
    engine = create_engine(database_url)
    migrate(engine)
    with engine.begin() as conn:
        _store(conn, list(factories.batch("pi-r", range(1, 6)).events))
        restored = list(factories.batch("pi-r", range(3, 9), raw="AST-NEW").events)
        stored = _store(conn, restored)
    (progress,) = stored.progress
    assert progress.conflict_seq == 3
    assert [e.seq for e in stored.conflicts] == [3, 4, 5]
    assert [e.seq for e, _ in stored.new] == [6, 7, 8]
    assert progress.confirmed_seq == 8
    engine.dispose()


def test_scans_renumbered_under_a_new_incarnation_are_stored_once_by_event_id(
    database_url: str,
) -> None:
    """Re-sent under a new incarnation, scans the hub holds are kept as duplicates (the
    new stream has no gap) and only the scan it did not hold is new."""
    engine = create_engine(database_url)
    migrate(engine)
    held = list(factories.batch("pi-r", range(1, 6)).events)
    unseen = factories.scan_event("pi-r", 6, raw="INS-UNSEEN")
    again = _renumbered([*held[2:], unseen], "inc2")
    with engine.begin() as conn:
        _store(conn, held)
        stored = _store(conn, again)
        flags = conn.execute(
            sa.select(scan_log.c.seq, scan_log.c.duplicate)
            .where(scan_log.c.incarnation == "inc2")
            .order_by(scan_log.c.seq)
        ).all()
    (progress,) = stored.progress
    assert (progress.confirmed_seq, progress.conflict_seq) == (4, None)
    assert [e.raw for e, _ in stored.new] == ["INS-UNSEEN"]
    assert stored.held_elsewhere == 3
    assert [tuple(row) for row in flags] == [(1, True), (2, True), (3, True), (4, False)]
    engine.dispose()


def test_the_records_take_a_renumbered_scan_once(hub: HubUnderTest) -> None:
    """A case's uses re-sent under a new incarnation, with one use the hub never had, log
    each instrument's use once."""
    room = ScriptedStation("pi-or", "point_of_use")
    first = room.scan("CASE-71", "INS-1", "INS-2")
    hub.deliver(first)
    later = room.scan("INS-3")
    hub.deliver(_renumbered([*first, *later], "inc2"))
    with hub.engine.connect() as conn:
        used = conn.execute(
            sa.select(records.usage_logs.c.item).order_by(records.usage_logs.c.item)
        ).scalars()
        assert list(used) == ["site:INS-1", "site:INS-2", "site:INS-3"]


def test_a_rebuild_takes_an_agents_streams_in_the_order_they_began(hub: HubUnderTest) -> None:
    """A move opened under one incarnation and finished under the next (whose id sorts
    first) rebuilds to the records the live projector made."""
    porter = ScriptedStation("pi-porter", "asset_move")
    opened, *rest = porter.scan("AST-81", "AST-82", "LOC-3")
    hub.deliver([opened.model_copy(update={"incarnation": "z-old"})])
    hub.deliver(_renumbered(rest, "a-new"))
    report = rebuild(hub.engine)
    assert {table: line.differ for table, line in report.items() if line.differ} == {}
    with hub.engine.connect() as conn:
        moved = conn.execute(
            sa.select(records.assets.c.key).where(records.assets.c.location.is_not(None))
        ).scalars()
        assert sorted(moved) == ["site:AST-81", "site:AST-82"]
