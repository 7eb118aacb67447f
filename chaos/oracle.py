"""What the matrix checks after a fault (Jepsen's queue checker, Vector's Conservation and
Liveness): every scan the station kept (its own outbox, read from its file) is applied by
the hub exactly once, with its content, and under the seq the station gave it when the
incarnation is the same (a station that renumbered what it holds re-sends it under a new
incarnation; the hub keeps a scan it held already as a duplicate, never applied); the
hub has nothing the station did not keep; the records equal those a fault-free projection
of the same scans makes (``rebuild`` compares them, table by table); and intake resumed by
itself."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from hub.reconcile.rebuild import rebuild
from hub.store.db import create_engine


@dataclass(frozen=True)
class Kept:
    incarnation: str
    seq: int
    event_id: str
    raw: str


def station_kept(outbox: Path) -> dict[str, Kept]:
    """The station's kept scans by event id (read-only: the station may still run)."""
    with sqlite3.connect(f"file:{outbox}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT seq, event_id, payload FROM outbox").fetchall()
    kept = {}
    for seq, event_id, payload in rows:
        event = json.loads(payload)
        kept[event_id] = Kept(event["incarnation"], seq, event_id, event["raw"])
    return kept


@dataclass(frozen=True)
class Delivery:
    confirmed: int  # scans the station kept
    lost: int  # kept, not at the hub
    gone: int  # kept, then gone with the station's storage before the hub had them
    doubled: int  # at the hub more than once
    unexpected: int  # at the hub, never kept by the station
    altered: int  # at the hub with other content, or under another seq of its incarnation

    @property
    def whole(self) -> bool:
        return not (self.lost or self.doubled or self.unexpected or self.altered)


def delivery(
    kept: dict[str, Kept],
    at_hub: list[dict[str, Any]],
    storage_lost: frozenset[str] = frozenset(),
    named: int | None = None,
) -> Delivery:
    """``storage_lost``: scans the station's storage lost (a copy restored without them, a
    damaged page); those the hub did not have are ``gone``, not ``lost``. ``named``: how
    many the station said it could not read; more gone than that count as lost."""
    applied = [scan for scan in at_hub if not scan["duplicate"]]
    counts = Counter(scan["event"]["event_id"] for scan in applied)
    altered = 0
    for scan in applied:
        mine = kept.get(scan["event"]["event_id"])
        if mine is None:
            continue
        renumbered = mine.incarnation != scan["incarnation"]
        if mine.raw != scan["raw"] or (not renumbered and mine.seq != scan["seq"]):
            altered += 1
    missing = {event_id for event_id in kept if event_id not in counts}
    gone = len(missing & storage_lost)
    if named is not None:
        gone = min(gone, named)
    return Delivery(
        confirmed=len(kept),
        lost=len(missing) - gone,
        gone=gone,
        doubled=sum(n - 1 for n in counts.values() if n > 1),
        unexpected=sum(1 for event_id in counts if event_id not in kept),
        altered=altered,
    )


TIME_OFF_S = 60.0


def timed_wrong(at_hub: list[dict[str, Any]], stepped: str) -> int:
    """Scans whose time at the hub is more than ``TIME_OFF_S`` from when they were taken,
    by the clock the fault did not step: for a station's clock, the hub's when it received
    them (each arrives within seconds of being taken); for the hub's, the station's own,
    synced. A fault-free run has none."""
    return sum(
        1
        for scan in at_hub
        if abs(_at(scan["event_at"]) - _taken(scan, stepped)).total_seconds() > TIME_OFF_S
    )


def _taken(scan: dict[str, Any], stepped: str) -> datetime:
    return _at(scan["received_at"] if stepped == "station" else scan["event"]["scanned_at"])


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def records_differ(database_url: str) -> dict[str, int]:
    """Rows that differ, per table, between the live records and a projection of the same
    scan log from nothing; empty when they are equal. Run with the hub stopped."""
    engine = create_engine(database_url)
    try:
        report = rebuild(engine)
    finally:
        engine.dispose()
    return {table: line.differ for table, line in report.items() if line.differ}
