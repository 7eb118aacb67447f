"""The projection stage: follows the scan log by a persisted cursor and makes the records.

Rules (DESIGN.md §2):
1. Each stream (agent, incarnation) has a cursor, ``agent_streams.projected_seq``: its
   scans up to there are in the records. Only scans up to the watermark are projected,
   per agent in seq order, never one held above a gap.
2. Across agents, scans are projected in the order they became contiguous: ingest appends
   each stream's newly contiguous range to ``projection_queue`` in its transaction, and
   the projector takes the queue in id order. Records do not depend on that order
   (rules.py), but alerts are history: a use in the OR must meet the failed load that was
   confirmed before it. Entries already covered by their stream's cursor are skipped, so
   a rebuild or a replayed step never applies a scan twice. Streams that lag with nothing
   queued (after an upgrade) are projected stream by stream.
3. A step is bounded (``budget``), so ingest, which runs between steps, waits for at most
   one step; an entry larger than the budget is taken in parts. A catch-up step may also
   stop early (``yield_to``): it then writes the scans it applied, a prefix of its
   ranges, and moves the cursors to there, so a message that lands meanwhile waits
   about a hundred scans, not the whole step.
4. A step's records, alerts, audit entries and cursor moves commit together: a crash
   replays the step, never half of it.
5. A step that raises for anything but an unavailable database is retried stream by
   stream, then scan by scan. A scan that still fails is set aside: a high
   ``reconcile_failed`` alert names it, the cursor passes it, and ``scantrail-hub
   rebuild`` derives it once the fault is fixed. One bad scan never stops the line.
6. One projector at a time: on PostgreSQL each step takes a transaction-level advisory
   lock and skips when another hub process holds it. SQLite has one writer.
7. ``rebuild`` is this projector run from zero into fresh tables (rebuild.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection

from hub.domain.statuses import AlertKind, Severity
from hub.errors import DatabaseUnavailable
from hub.reconcile.apply import Fresh, Range, Reconciler
from hub.store.alerts import Alerts
from hub.store.db import mapped
from hub.store.tables import agent_streams, projection_queue
from protocol.messages import ScanEvent

log = structlog.get_logger("hub.projector")

# Any fixed 64-bit number names the lock; this one spells "scantral" in ASCII.
ADVISORY_LOCK = 0x7363616E7472616C
MAX_ENTRIES_PER_STEP = 1000
IN_CHUNK = 500
YIELD_EVERY = 100  # scans between asking ``yield_to``: about 15 ms of rules
RECENT_MAX = 10_000  # scans held in memory for the projector; beyond, it reads the log

# Run row by row (executemany), in key order: one UPDATE over an unnest of the keys would
# lock the rows in whatever order its plan reads them.
_MOVE_CURSOR = (
    agent_streams.update()
    .where(
        agent_streams.c.agent_id == sa.bindparam("k_agent"),
        agent_streams.c.incarnation == sa.bindparam("k_incarnation"),
    )
    .values(projected_seq=sa.bindparam("upto"))
)


class Recent:
    """Scans ingest has just stored, so the projector need not read them back. Bounded:
    past ``RECENT_MAX`` new scans are not held and the projector reads them from the log.
    Ingest adds and the projector takes, in different threads on PostgreSQL: one lock."""

    def __init__(self, limit: int = RECENT_MAX) -> None:
        self._limit = limit
        self._held: dict[tuple[str, str, int], tuple[ScanEvent, datetime]] = {}
        self._lock = threading.Lock()

    def add(self, stored: Sequence[tuple[ScanEvent, datetime]]) -> None:
        with self._lock:
            for event, at in stored:
                if len(self._held) >= self._limit:
                    return
                self._held[(event.agent_id, event.incarnation, event.seq)] = (event, at)

    def take(self, ranges: Sequence[Range]) -> Fresh:
        fresh: Fresh = {}
        with self._lock:
            for agent_id, incarnation, after, upto in ranges:
                for seq in range(after + 1, upto + 1):
                    held = self._held.pop((agent_id, incarnation, seq), None)
                    if held is not None:
                        fresh[(agent_id, incarnation, seq)] = held
        return fresh

    def clear(self) -> None:
        with self._lock:
            self._held.clear()


@dataclass(frozen=True)
class Step:
    projected: int
    set_aside: int


class Projector:
    def __init__(self, reconciler: Reconciler) -> None:
        self._reconciler = reconciler

    def step(
        self,
        conn: Connection,
        recent: Recent | None,
        budget: int,
        yield_to: Callable[[], bool] | None = None,
    ) -> Step:
        """Project at most ``budget`` scans, fewer when ``yield_to()`` turns true (rule 3);
        the caller commits."""
        if conn.dialect.name == "postgresql":
            elected = conn.execute(sa.select(sa.func.pg_try_advisory_xact_lock(ADVISORY_LOCK)))
            if not elected.scalar():
                return Step(0, 0)
        q = projection_queue.c
        entries = conn.execute(
            sa.select(q.id, q.agent_id, q.incarnation, q.after_seq, q.upto_seq)
            .order_by(q.id)
            .limit(MAX_ENTRIES_PER_STEP)
        ).all()
        cursors = _cursors(conn, {(e[1], e[2]) for e in entries}) if entries else {}
        ranges = _plan(entries, dict(cursors), budget) if entries else _unqueued(conn, budget)
        if not ranges and not entries:
            return Step(0, 0)
        if yield_to is not None:
            ranges = [piece for whole in ranges for piece in _pieces(whole, YIELD_EVERY)]
        fresh = recent.take(ranges) if recent is not None else {}
        applied, set_aside = self.project(conn, ranges, fresh, yield_to) if ranges else ([], 0)
        move_cursors(conn, applied)
        # Done: the entries the cursors now cover, whether this step applied them or an
        # earlier one (or a rebuild) had.
        cursors.update({(r.agent_id, r.incarnation): r.upto for r in applied})
        done = [e[0] for e in entries if e[4] <= cursors.get((e[1], e[2]), 0)]
        for at in range(0, len(done), IN_CHUNK):
            conn.execute(projection_queue.delete().where(q.id.in_(done[at : at + IN_CHUNK])))
        return Step(sum(r.upto - r.after for r in applied), set_aside)

    def project(
        self,
        conn: Connection,
        ranges: Sequence[Range],
        fresh: Fresh,
        stop: Callable[[], bool] | None = None,
    ) -> tuple[list[Range], int]:
        """Apply the rules to ``ranges``; return the ranges applied (a prefix of them when
        ``stop`` ended the pass early) and how many scans had to be set aside."""
        applied = self._try(conn, ranges, fresh, stop)
        if isinstance(applied, int):
            return list(ranges[:applied]), 0
        set_aside = 0
        for whole in ranges:
            if isinstance(self._try(conn, [whole], fresh), int):
                continue
            failed = [
                (one.upto, error)
                for one in _pieces(whole, 1)
                if isinstance(error := self._try(conn, [one], fresh), str)
            ]
            set_aside += len(failed)
            if failed and self._reconciler.live:
                _set_aside_alert(conn, whole, failed)
        return list(ranges), set_aside

    def _try(
        self,
        conn: Connection,
        ranges: Sequence[Range],
        fresh: Fresh,
        stop: Callable[[], bool] | None = None,
    ) -> int | str:
        """Apply ``ranges`` in a savepoint; how many ranges it applied when it worked, else
        what went wrong."""
        try:
            with mapped(), conn.begin_nested():
                return self._reconciler.apply(conn, ranges, fresh, stop)
        except DatabaseUnavailable:
            raise  # only waiting helps: the caller retries the whole step
        except Exception as exc:  # bad data or a bug in a rule: isolate it, go on
            log.warning("projector.failed", ranges=len(ranges), error=type(exc).__name__)
            return f"{type(exc).__name__}: {exc}"[:300]


def move_cursors(conn: Connection, ranges: Sequence[Range]) -> None:
    """Set each stream's cursor to the end of its last range. In key order, the order
    ingest locks the same rows in (inbox.py rule 4): the two never deadlock on PostgreSQL."""
    ends = {(r.agent_id, r.incarnation): r.upto for r in ranges}
    moves = [
        {"k_agent": a, "k_incarnation": i, "upto": upto} for (a, i), upto in sorted(ends.items())
    ]
    if moves:
        conn.execute(_MOVE_CURSOR, moves)


def _cursors(conn: Connection, streams: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    c = agent_streams.c
    keys = sorted(streams)
    found: dict[tuple[str, str], int] = {}
    for at in range(0, len(keys), IN_CHUNK // 2):
        query = sa.select(c.agent_id, c.incarnation, c.projected_seq).where(
            sa.tuple_(c.agent_id, c.incarnation).in_(keys[at : at + IN_CHUNK // 2])
        )
        found.update({(a, i): projected for a, i, projected in conn.execute(query)})
    return found


def _plan(entries: Sequence[Any], cursors: dict[tuple[str, str], int], budget: int) -> list[Range]:
    """The ranges to apply, in queue order, at most ``budget`` scans."""
    ranges: list[Range] = []
    for _, agent_id, incarnation, after, upto in entries:
        key = (agent_id, incarnation)
        start = max(after, cursors.get(key, 0))
        if start >= upto:
            continue  # already projected (a rebuild, or an earlier part)
        if budget <= 0:
            break
        end = min(upto, start + budget)
        ranges.append(Range(agent_id, incarnation, start, end))
        cursors[key] = end
        budget -= end - start
        if end < upto:
            break  # the rest of this entry comes first in the next step
    return ranges


def _unqueued(conn: Connection, budget: int) -> list[Range]:
    """Streams behind their watermark with nothing queued, shared fairly (rule 2)."""
    c = agent_streams.c
    lagging = conn.execute(
        sa.select(c.agent_id, c.incarnation, c.projected_seq, c.confirmed_seq)
        .where(c.projected_seq < c.confirmed_seq)
        .order_by(c.updated_at)
        .limit(MAX_ENTRIES_PER_STEP)
    ).all()
    share = max(1, budget // len(lagging)) if lagging else 0
    return [
        Range(agent_id, incarnation, projected, min(confirmed, projected + share))
        for agent_id, incarnation, projected, confirmed in lagging
    ]


def _pieces(whole: Range, size: int) -> Iterator[Range]:
    for after in range(whole.after, whole.upto, size):
        yield whole._replace(after=after, upto=min(whole.upto, after + size))


def _set_aside_alert(conn: Connection, whole: Range, failed: list[tuple[int, str]]) -> None:
    seqs = ", ".join(str(seq) for seq, _ in failed[:20]) + (" …" if len(failed) > 20 else "")
    detail = (
        f"{len(failed)} scans of incarnation {whole.incarnation} (seqs {seqs}) are stored and "
        f"confirmed but not in the records ({failed[0][1]}). Fix the cause, then run "
        "scantrail-hub rebuild"
    )
    raised = Alerts(datetime.now(UTC))
    raised.add(Severity.HIGH, AlertKind.RECONCILE_FAILED, whole.agent_id, detail)
    raised.write(conn)
