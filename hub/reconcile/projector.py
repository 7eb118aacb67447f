"""The projection stage: follows the scan log by a persisted cursor and makes the records.

Rules (DESIGN.md §2):
1. Each stream (agent, incarnation) has a cursor, ``agent_streams.projected_seq``. A step
   projects scans after it up to the watermark, per agent in seq order, never a scan held
   above a gap. Across agents the order does not matter (rules.py).
2. A step is bounded (``step_scans``) and shared among the lagging streams, so ingest,
   which runs between steps, waits for at most one step.
3. A step's records, alerts, audit entries and cursor moves commit together: a crash
   replays the step, never half of it.
4. A step that raises for anything but an unavailable database is retried stream by
   stream, then scan by scan. A scan that still fails is set aside: a high
   ``reconcile_failed`` alert names it, the cursor passes it, and ``scantrail-hub
   rebuild`` derives it once the fault is fixed. One bad scan never stops the line.
5. One projector at a time: on PostgreSQL each step takes a transaction-level advisory
   lock and skips when another hub process holds it. SQLite has one writer.
6. ``rebuild`` is this projector run from zero into fresh tables (rebuild.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection

from hub.errors import DatabaseUnavailable
from hub.reconcile.apply import Fresh, Range, Reconciler, scan_from_event
from hub.store.db import mapped
from hub.store.tables import agent_streams, alerts
from protocol.messages import ScanEvent

log = structlog.get_logger("hub.projector")

# Any fixed 64-bit number names the lock; this one spells "scantral" in ASCII.
ADVISORY_LOCK = 0x7363616E7472616C
MAX_STREAMS_PER_STEP = 1000
RECENT_MAX = 10_000  # scans held in memory for the projector; beyond, it reads the log

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
    past ``RECENT_MAX`` new scans are not held and the projector reads them from the log."""

    def __init__(self, limit: int = RECENT_MAX) -> None:
        self._limit = limit
        self._held: dict[tuple[str, str, int], tuple[ScanEvent, datetime]] = {}

    def add(self, stored: Sequence[tuple[ScanEvent, datetime]]) -> None:
        for event, at in stored:
            if len(self._held) >= self._limit:
                return
            self._held[(event.agent_id, event.incarnation, event.seq)] = (event, at)

    def take(self, ranges: Sequence[Range]) -> Fresh:
        fresh: Fresh = {}
        for agent_id, incarnation, after, upto in ranges:
            for seq in range(after + 1, upto + 1):
                held = self._held.pop((agent_id, incarnation, seq), None)
                if held is not None:
                    fresh[(agent_id, incarnation, seq)] = scan_from_event(*held)
        return fresh

    def clear(self) -> None:
        self._held.clear()


@dataclass(frozen=True)
class Step:
    projected: int
    set_aside: int


class Projector:
    def __init__(self, reconciler: Reconciler, step_scans: int) -> None:
        self._reconciler = reconciler
        self._step_scans = step_scans

    def step(
        self, conn: Connection, recent: Recent | None = None, budget: int | None = None
    ) -> Step:
        """Project at most ``budget`` scans (default ``step_scans``); the caller commits."""
        if conn.dialect.name == "postgresql":
            elected = conn.execute(sa.select(sa.func.pg_try_advisory_xact_lock(ADVISORY_LOCK)))
            if not elected.scalar():
                return Step(0, 0)
        c = agent_streams.c
        lagging = conn.execute(
            sa.select(c.agent_id, c.incarnation, c.projected_seq, c.confirmed_seq)
            .where(c.projected_seq < c.confirmed_seq)
            .order_by(c.updated_at)
            .limit(MAX_STREAMS_PER_STEP)
        ).all()
        if not lagging:
            return Step(0, 0)
        share = max(1, (budget or self._step_scans) // len(lagging))
        ranges = [
            Range(agent_id, incarnation, projected, min(confirmed, projected + share))
            for agent_id, incarnation, projected, confirmed in lagging
        ]
        fresh = recent.take(ranges) if recent is not None else {}
        set_aside = self.project(conn, ranges, fresh)
        conn.execute(
            _MOVE_CURSOR,
            [
                {"k_agent": r.agent_id, "k_incarnation": r.incarnation, "upto": r.upto}
                for r in ranges
            ],
        )
        return Step(sum(r.upto - r.after for r in ranges), set_aside)

    def project(self, conn: Connection, ranges: Sequence[Range], fresh: Fresh) -> int:
        """Apply the rules to ``ranges``; return how many scans had to be set aside."""
        if self._try(conn, ranges, fresh) is None:
            return 0
        set_aside = 0
        for whole in ranges:
            if self._try(conn, [whole], fresh) is None:
                continue
            failed = [
                (one.upto, error)
                for one in _singles(whole)
                if (error := self._try(conn, [one], fresh)) is not None
            ]
            set_aside += len(failed)
            if failed and self._reconciler.live:
                _set_aside_alert(conn, whole, failed)
        return set_aside

    def _try(self, conn: Connection, ranges: Sequence[Range], fresh: Fresh) -> str | None:
        """Apply ``ranges`` in a savepoint; None when it worked, else what went wrong."""
        try:
            with mapped(), conn.begin_nested():
                self._reconciler.apply(conn, ranges, fresh)
        except DatabaseUnavailable:
            raise  # only waiting helps: the caller retries the whole step
        except Exception as exc:  # bad data or a bug in a rule: isolate it, go on
            log.warning("projector.failed", ranges=len(ranges), error=type(exc).__name__)
            return f"{type(exc).__name__}: {exc}"[:300]
        return None


def _singles(whole: Range) -> Iterator[Range]:
    for seq in range(whole.after + 1, whole.upto + 1):
        yield Range(whole.agent_id, whole.incarnation, seq - 1, seq)


def _set_aside_alert(conn: Connection, whole: Range, failed: list[tuple[int, str]]) -> None:
    seqs = ", ".join(str(seq) for seq, _ in failed[:20]) + (" …" if len(failed) > 20 else "")
    detail = (
        f"{len(failed)} scans of incarnation {whole.incarnation} (seqs {seqs}) are stored and "
        f"confirmed but not in the records ({failed[0][1]}). Fix the cause, then run "
        "scantrail-hub rebuild"
    )
    log.error("alert.raised", kind="reconcile_failed", agent_id=whole.agent_id, detail=detail)
    conn.execute(
        alerts.insert().values(
            created_at=datetime.now(UTC),
            severity="high",
            kind="reconcile_failed",
            agent_id=whole.agent_id,
            detail=detail,
        )
    )
