"""What the matrix checks after a fault (Jepsen's queue checker, Vector's Conservation and
Liveness): every scan the station kept (its own outbox, read from its file) is in the
hub's scan log exactly once, with its seq and its content; the hub has nothing the station
did not keep; the records equal those a fault-free projection of the same scans makes
(``rebuild`` compares them, table by table); and intake resumed by itself."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.reconcile.rebuild import rebuild
from hub.store.db import create_engine


@dataclass(frozen=True)
class Kept:
    seq: int
    event_id: str
    raw: str


def station_kept(outbox: Path) -> dict[str, Kept]:
    """The station's kept scans by event id (read-only: the station may still run)."""
    with sqlite3.connect(f"file:{outbox}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT seq, event_id, payload FROM outbox").fetchall()
    return {
        event_id: Kept(seq, event_id, json.loads(payload)["raw"]) for seq, event_id, payload in rows
    }


@dataclass(frozen=True)
class Delivery:
    confirmed: int  # scans the station kept
    lost: int  # kept, not at the hub
    doubled: int  # at the hub more than once
    unexpected: int  # at the hub, never kept by the station
    altered: int  # at the hub under another seq or with other content

    @property
    def whole(self) -> bool:
        return not (self.lost or self.doubled or self.unexpected or self.altered)


def delivery(kept: dict[str, Kept], at_hub: list[dict[str, Any]]) -> Delivery:
    counts = Counter(scan["event"]["event_id"] for scan in at_hub)
    altered = 0
    for scan in at_hub:
        mine = kept.get(scan["event"]["event_id"])
        if mine is not None and (mine.seq, mine.raw) != (scan["seq"], scan["raw"]):
            altered += 1
    return Delivery(
        confirmed=len(kept),
        lost=sum(1 for event_id in kept if event_id not in counts),
        doubled=sum(n - 1 for n in counts.values() if n > 1),
        unexpected=sum(1 for event_id in counts if event_id not in kept),
        altered=altered,
    )


def records_differ(database_url: str) -> dict[str, int]:
    """Rows that differ, per table, between the live records and a projection of the same
    scan log from nothing; empty when they are equal. Run with the hub stopped."""
    engine = create_engine(database_url)
    try:
        report = rebuild(engine)
    finally:
        engine.dispose()
    return {table: line.differ for table, line in report.items() if line.differ}
