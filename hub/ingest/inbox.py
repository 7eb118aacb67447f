"""The raw scan log: store each scan once, and advance each agent's contiguous watermark.

Rules:
1. A scan is keyed by (agent, incarnation, seq). The same key with the same content is a
   duplicate and is ignored. The same key with different content is a conflict: the
   stored scan is kept, never overwritten, and the caller raises a security alert.
2. ``confirmed_seq`` is the highest seq such that every seq from 1 up to it is stored.
   Scans above a gap are stored but held back; the ack then names the first gap,
   ``resend_from`` to ``resend_to``, so the agent re-sends only what is missing.
3. Callers run ``store`` inside one transaction and commit before acking anything.
   The newly contiguous scans join the projection queue in that transaction, in the order
   their messages arrived, so across agents the projector sees scans in the order the
   hub received them (projector.py). A scan held above a gap joins with the message that
   filled the gap: it could not be applied before.
4. A scan whose event id the hub already holds under another key (a station that
   renumbered what it holds, agent/outbox.py ``renumber``) is stored with ``duplicate``
   set: its stream has no gap, and the projector never applies it. The event id is the
   hub's idempotency key (DESIGN.md §3); the key is the stream's order.
5. A conflict names its seq in the stream's progress (``conflict_seq``), and the ack
   carries it: the station's numbering collided with what the hub holds, so it re-sends
   what it holds under a new incarnation, and rule 4 keeps each scan applied once.
6. Each stream's row is locked (``FOR UPDATE`` on PostgreSQL) before its scans are
   checked and written, so several hub processes sharing a subscription serialise on one
   agent and never move its watermark past a scan another of them has not committed.

Cost: a handful of statements per transaction, whatever the number of messages or agents.
``max_seen_seq`` bounds every stored seq, so scans above it need no duplicate check, and a
stream with nothing held above its watermark moves it without reading the log.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.ingest.triage import StreamKey
from hub.store.db import Bulk, insert_ignore
from hub.store.tables import agent_streams, projection_queue, scan_log
from protocol.messages import ScanEvent

ADVANCE_CHUNK = 5000
KEYS_PER_QUERY = 400  # stream keys per tuple IN: two binds each, far below any bind limit

_INSERT_SCANS = Bulk.insert(
    scan_log,
    (
        "agent_id",
        "incarnation",
        "seq",
        "event_id",
        "scanned_at",
        "event_at",
        "received_at",
        "raw",
        "payload",
        "content_hash",
        "duplicate",
    ),
    ignore=True,
)

_ENQUEUE = Bulk.insert(projection_queue, ("agent_id", "incarnation", "after_seq", "upto_seq"))

_UPDATE_STREAM = Bulk.update(
    agent_streams, ("confirmed_seq", "max_seen_seq", "gap_since", "updated_at")
)


@dataclass(frozen=True)
class StreamProgress:
    agent_id: str
    incarnation: str
    confirmed_seq: int
    max_seen_seq: int
    previous_confirmed_seq: int
    next_stored_seq: int | None = None  # the first stored seq above the gap, if any
    conflict_seq: int | None = None  # the first seq that came with other content (rule 5)

    @property
    def resend_from(self) -> int | None:
        return self.confirmed_seq + 1 if self.max_seen_seq > self.confirmed_seq else None

    @property
    def resend_to(self) -> int | None:
        if self.resend_from is None:
            return None
        return (self.next_stored_seq or self.max_seen_seq + 1) - 1


@dataclass
class Stored:
    progress: list[StreamProgress] = field(default_factory=list)
    new: list[tuple[ScanEvent, datetime]] = field(default_factory=list)  # with event time
    conflicts: list[ScanEvent] = field(default_factory=list)
    duplicates: int = 0
    held_elsewhere: int = 0  # known by event id under another key (rule 4)


@dataclass
class _Stream:
    confirmed: int
    max_seen: int
    gap_since: datetime | None


def store(
    conn: Connection,
    scans: dict[StreamKey, dict[int, ScanEvent]],
    received_at: datetime,
    event_at: Callable[[ScanEvent], datetime],
    arrival: dict[tuple[str, str, int], int] | None = None,
) -> Stored:
    """Store new scans of every stream and move each watermark once. Each new scan gets
    its event time, ``event_at(scan)`` (its station's clock corrected), kept with the scan so
    a rebuild orders it as the live projector did."""
    keys = sorted(scans)  # one lock order for every hub process: no deadlocks
    streams = _lock(conn, keys, received_at)
    out = Stored()
    fresh: list[ScanEvent] = []
    conflict_at: dict[StreamKey, int] = {}
    for key in keys:
        stream = streams[key]
        events = scans[key]
        maybe_known = [seq for seq in events if seq <= stream.max_seen]
        known = _hashes(conn, key, maybe_known) if maybe_known else {}
        for seq in sorted(events):
            event = events[seq]
            held = known.get(seq)
            if held is None:
                fresh.append(event)
            elif held != _digest(event):
                out.conflicts.append(event)
                conflict_at.setdefault(key, seq)
            else:
                out.duplicates += 1
    elsewhere = _held_ids(conn, [str(event.event_id) for event in fresh])
    rows = []
    for event in fresh:
        agent_id, event_id = event.agent_id, str(event.event_id)
        duplicate = event_id in elsewhere
        elsewhere.add(event_id)  # twice in this transaction: the second is the duplicate
        at = event_at(event)
        if duplicate:
            out.held_elsewhere += 1
        else:
            out.new.append((event, at))
        payload = event.model_dump_json()
        rows.append(
            (
                agent_id,
                event.incarnation,
                event.seq,
                event_id,
                event.scanned_at,
                at,
                received_at,
                event.raw,
                payload,
                _digest(event, payload),
                duplicate,
            )
        )
    # The stream locks make a clash impossible; DO NOTHING keeps a lost race harmless.
    _INSERT_SCANS(conn, rows)
    new_by_stream: dict[StreamKey, list[int]] = {}
    for event in fresh:
        new_by_stream.setdefault((event.agent_id, event.incarnation), []).append(event.seq)
    updates = []
    for key in keys:
        progress = _advance(conn, key, streams[key], new_by_stream.get(key, []))
        if key in conflict_at:
            progress = replace(progress, conflict_seq=conflict_at[key])
        out.progress.append(progress)
        gap = progress.max_seen_seq > progress.confirmed_seq
        updates.append(
            (
                progress.confirmed_seq,
                progress.max_seen_seq,
                (streams[key].gap_since or received_at) if gap else None,
                received_at,
                *key,
            )
        )
    _UPDATE_STREAM(conn, updates)
    _ENQUEUE(conn, queue_order(out.progress, arrival or {}))
    return out


def queue_order(
    progress: list[StreamProgress], arrival: dict[tuple[str, str, int], int]
) -> list[tuple[str, str, int, int]]:
    """Each stream's newly contiguous range, cut where the message that made a scan
    applicable changes, and the pieces sorted by that message: (agent, incarnation, after,
    upto) rows for the projection queue. A scan stored in an earlier transaction (held
    above a gap) becomes applicable with the scan before it."""
    pieces: list[tuple[int, int, tuple[str, str, int, int]]] = []
    for order, p in enumerate(progress):
        start, current = p.previous_confirmed_seq, -1
        for seq in range(p.previous_confirmed_seq + 1, p.confirmed_seq + 1):
            came = max(current, arrival.get((p.agent_id, p.incarnation, seq), -1))
            if came != current and seq - 1 > start:
                pieces.append((current, order, (p.agent_id, p.incarnation, start, seq - 1)))
                start = seq - 1
            current = came
        if p.confirmed_seq > start:
            pieces.append((current, order, (p.agent_id, p.incarnation, start, p.confirmed_seq)))
    return [piece for _, _, piece in sorted(pieces)]


def highest_seq(conn: Connection, key: StreamKey) -> int:
    """The highest seq stored for a stream; 0 for one not seen yet."""
    c = agent_streams.c
    found = conn.execute(
        sa.select(c.max_seen_seq).where(c.agent_id == key[0], c.incarnation == key[1])
    ).scalar()
    return int(found or 0)


def _lock(conn: Connection, keys: list[StreamKey], now: datetime) -> dict[StreamKey, _Stream]:
    """Each stream's row, created if new and locked for this transaction."""
    found = _select_for_update(conn, keys)
    missing = [key for key in keys if key not in found]
    if missing:
        insert_ignore(
            conn,
            agent_streams,
            [
                {
                    "agent_id": agent_id,
                    "incarnation": incarnation,
                    "confirmed_seq": 0,
                    "max_seen_seq": 0,
                    "projected_seq": 0,
                    "updated_at": now,
                }
                for agent_id, incarnation in missing
            ],
        )
        found.update(_select_for_update(conn, missing))
    return found


# Built once: every batch runs these, and building them took a sixth of a hub's ingest time
# when each batch holds a scan or two (py-spy --gil). The keys are expanded at execution.
_s = agent_streams.c
_FOR_UPDATE = (
    sa.select(_s.agent_id, _s.incarnation, _s.confirmed_seq, _s.max_seen_seq, _s.gap_since)
    .where(sa.tuple_(_s.agent_id, _s.incarnation).in_(sa.bindparam("keys", expanding=True)))
    .order_by(_s.agent_id, _s.incarnation)
    .with_for_update()
)
_HELD_IDS = sa.select(scan_log.c.event_id).where(
    scan_log.c.event_id.in_(sa.bindparam("ids", expanding=True))
)


def _select_for_update(conn: Connection, keys: list[StreamKey]) -> dict[StreamKey, _Stream]:
    found: dict[StreamKey, _Stream] = {}
    for at in range(0, len(keys), KEYS_PER_QUERY):
        chunk = keys[at : at + KEYS_PER_QUERY]
        rows = conn.execute(_FOR_UPDATE, {"keys": chunk})
        for agent_id, incarnation, confirmed, max_seen, gap_since in rows:
            found[(agent_id, incarnation)] = _Stream(confirmed, max_seen, gap_since)
    return found


def _digest(event: ScanEvent, payload: str | None = None) -> str:
    """The content hash a scan is stored with: of its payload as the hub writes it."""
    return hashlib.sha256((payload or event.model_dump_json()).encode()).hexdigest()


def _held_ids(conn: Connection, event_ids: list[str]) -> set[str]:
    """Which of these event ids the scan log holds already, under any key (rule 4)."""
    held: set[str] = set()
    for at in range(0, len(event_ids), KEYS_PER_QUERY):
        chunk = event_ids[at : at + KEYS_PER_QUERY]
        held.update(conn.execute(_HELD_IDS, {"ids": chunk}).scalars())
    return held


def _hashes(conn: Connection, key: StreamKey, seqs: list[int]) -> dict[int, str]:
    """Content hashes of the stored scans among ``seqs`` (a resend, mostly)."""
    c = scan_log.c
    query = sa.select(c.seq, c.content_hash).where(
        c.agent_id == key[0], c.incarnation == key[1], c.seq.between(min(seqs), max(seqs))
    )
    return {seq: digest for seq, digest in conn.execute(query)}


def _advance(conn: Connection, key: StreamKey, stream: _Stream, new: list[int]) -> StreamProgress:
    """Move the watermark as far as the stored scans allow."""
    confirmed = previous = stream.confirmed
    if stream.max_seen <= confirmed:
        # Nothing was held above the watermark: what is stored above it is what just came.
        above: Iterable[int] = sorted(seq for seq in new if seq > confirmed)
        confirmed, next_stored = _contiguous(confirmed, above)
    else:
        while True:
            chunk = _stored_above(conn, key, confirmed)
            confirmed, next_stored = _contiguous(confirmed, chunk)
            if next_stored is not None or len(chunk) < ADVANCE_CHUNK:
                break
    seen = max([stream.max_seen, confirmed, *new])
    return StreamProgress(key[0], key[1], confirmed, seen, previous, next_stored)


def _contiguous(confirmed: int, seqs: Iterable[int]) -> tuple[int, int | None]:
    """The watermark after ``seqs`` (ascending), and the first seq past a gap, if any."""
    for seq in seqs:
        if seq != confirmed + 1:
            return confirmed, seq
        confirmed = seq
    return confirmed, None


def _stored_above(conn: Connection, key: StreamKey, confirmed: int) -> list[int]:
    c = scan_log.c
    query = (
        sa.select(c.seq)
        .where(c.agent_id == key[0], c.incarnation == key[1], c.seq > confirmed)
        .order_by(c.seq)
        .limit(ADVANCE_CHUNK)
    )
    return list(conn.execute(query).scalars())
