"""The raw scan log: store each scan once, and advance each agent's contiguous watermark.

Rules:
1. A scan is keyed by (agent, incarnation, seq). The same key with the same content is a
   duplicate and is ignored. The same key with different content is a conflict: the
   stored scan is kept, never overwritten, and the caller raises a security alert.
2. ``confirmed_seq`` is the highest seq such that every seq from 1 up to it is stored.
   Scans above a gap are stored but held back; the ack then names the first gap,
   ``resend_from`` to ``resend_to``, so the agent re-sends only what is missing.
3. Callers run these inside one transaction and commit before acking anything.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.store.db import insert_ignore
from hub.store.tables import agent_streams, scan_log
from protocol.messages import EventBatch, ScanEvent

ADVANCE_CHUNK = 5000


@dataclass(frozen=True)
class StoreResult:
    new: int
    duplicates: int
    conflicts: tuple[int, ...]
    # Each newly stored scan with its event time, so reconcile need not read it back.
    stored: tuple[tuple[ScanEvent, datetime], ...] = ()


@dataclass(frozen=True)
class StreamProgress:
    agent_id: str
    incarnation: str
    confirmed_seq: int
    max_seen_seq: int
    previous_confirmed_seq: int
    next_stored_seq: int | None = None  # the first stored seq above the gap, if any

    @property
    def resend_from(self) -> int | None:
        return self.confirmed_seq + 1 if self.max_seen_seq > self.confirmed_seq else None

    @property
    def resend_to(self) -> int | None:
        if self.resend_from is None:
            return None
        return (self.next_stored_seq or self.max_seen_seq + 1) - 1


def store_events(
    conn: Connection, batch: EventBatch, received_at: datetime, clock_offset_s: float = 0.0
) -> StoreResult:
    """Store new scans. Each gets its event time: ``scanned_at`` plus the agent's clock
    offset as the hub knows it now, kept with the scan so a rebuild orders it the same."""
    offset = timedelta(seconds=clock_offset_s)
    seqs = [e.seq for e in batch.events]
    existing: dict[int, str] = dict(
        conn.execute(
            sa.select(scan_log.c.seq, scan_log.c.content_hash).where(
                scan_log.c.agent_id == batch.agent_id,
                scan_log.c.incarnation == batch.incarnation,
                scan_log.c.seq.between(seqs[0], seqs[-1]),
            )
        ).all()
    )
    rows = []
    stored = []
    conflicts = []
    for event in batch.events:
        payload = event.model_dump_json()
        digest = hashlib.sha256(payload.encode()).hexdigest()
        known = existing.get(event.seq)
        if known is None:
            stored.append((event, event.scanned_at + offset))
            rows.append(
                {
                    "agent_id": event.agent_id,
                    "incarnation": event.incarnation,
                    "seq": event.seq,
                    "event_id": str(event.event_id),
                    "scanned_at": event.scanned_at,
                    "event_at": stored[-1][1],
                    "received_at": received_at,
                    "raw": event.raw,
                    "payload": payload,
                    "content_hash": digest,
                }
            )
        elif known != digest:
            conflicts.append(event.seq)
    # ON CONFLICT DO NOTHING: another hub instance may have stored the same key meanwhile.
    insert_ignore(conn, scan_log, rows)
    duplicates = len(seqs) - len(rows) - len(conflicts)
    return StoreResult(len(rows), duplicates, tuple(conflicts), tuple(stored))


def advance(
    conn: Connection, agent_id: str, incarnation: str, max_seen: int, now: datetime
) -> StreamProgress:
    """Move the contiguous watermark as far as the stored scans allow."""
    key = (agent_streams.c.agent_id == agent_id) & (agent_streams.c.incarnation == incarnation)
    insert_ignore(
        conn,
        agent_streams,
        [
            {
                "agent_id": agent_id,
                "incarnation": incarnation,
                "confirmed_seq": 0,
                "max_seen_seq": 0,
                "updated_at": now,
            }
        ],
    )
    # FOR UPDATE serialises hub instances on one agent (PostgreSQL); SQLite has one writer.
    confirmed, seen, gap_since = conn.execute(
        sa.select(
            agent_streams.c.confirmed_seq, agent_streams.c.max_seen_seq, agent_streams.c.gap_since
        )
        .where(key)
        .with_for_update()
    ).one()
    previous = confirmed
    next_stored = None
    while True:
        seqs = conn.execute(
            sa.select(scan_log.c.seq)
            .where(
                scan_log.c.agent_id == agent_id,
                scan_log.c.incarnation == incarnation,
                scan_log.c.seq > confirmed,
            )
            .order_by(scan_log.c.seq)
            .limit(ADVANCE_CHUNK)
        ).scalars()
        moved = 0
        for seq in seqs:
            if seq != confirmed + 1:
                next_stored = seq
                break
            confirmed = seq
            moved += 1
        if moved < ADVANCE_CHUNK:
            break
    seen = max(seen, max_seen, confirmed)
    gap = seen > confirmed
    conn.execute(
        agent_streams.update()
        .where(key)
        .values(
            confirmed_seq=confirmed,
            max_seen_seq=seen,
            gap_since=(gap_since or now) if gap else None,
            updated_at=now,
        )
    )
    return StreamProgress(agent_id, incarnation, confirmed, seen, previous, next_stored)
