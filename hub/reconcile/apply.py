"""The database edge of reconcile: read what the rules need, write what they decide.

One pass per projection step (projector.py). A pass takes the step's seq ranges (each
agent's scans in seq order), turns their log rows into ``Scan`` values, reads the records
they touch with a few ``IN`` queries (reads.py), applies ``rules.decide`` to every scan in
memory, writes each change into the pass's unit of work (writers.py, unit.py), and writes
the changed rows back in bulk (rows.py says why). A ``Reconciler`` writes to a ``Tables``
set, so ``rebuild`` runs this very code into fresh tables.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.domain import changes as ch
from hub.domain import rules
from hub.domain.facts import (
    DEFAULT_POLICY,
    Policy,
    Scan,
    event_key,
    utc,
)
from hub.reconcile.reads import Reads
from hub.reconcile.unit import Tables, Unit
from hub.reconcile.writers import Writers
from hub.store.tables import scan_log
from protocol.barcodes import DEFAULT_RULES, Decoded, DecodeRules, Result, decode
from protocol.messages import ScanEvent
from protocol.vocabulary import Outcome

# Scans ingest has just stored, with their event times, by (agent, incarnation, seq).
Fresh = dict[tuple[str, str, int], tuple[ScanEvent, datetime]]


class Range(NamedTuple):
    """Seqs ``after + 1 .. upto`` of one agent's incarnation, newly contiguous."""

    agent_id: str
    incarnation: str
    after: int
    upto: int


class Reconciler:
    def __init__(
        self,
        tables: Tables,
        live: bool = True,
        decode_rules: DecodeRules = DEFAULT_RULES,
        policy: Policy = DEFAULT_POLICY,
    ) -> None:
        self.t = tables
        self.live = live  # a rebuild raises no alerts and writes no audit entries
        self.policy = policy
        # The site's rules, as its agents decode with. Codes recur all day (the same
        # instruments, trays and carts), and decoding is pure: cache it.
        self._decode: functools._lru_cache_wrapper[Result] = functools.lru_cache(65536)(
            functools.partial(decode, rules=decode_rules)
        )

    def scan_of(self, row: Any) -> Scan:
        """A scan_log row as the rules see it."""
        payload = orjson.loads(row.payload)  # a catch-up reads every scan back: json took 15%
        reading = payload.get("decoded") or {}
        return self._scan(
            row.agent_id,
            row.incarnation,
            row.seq,
            row.event_at,
            row.raw,
            payload.get("context") or {},
            reading.get("outcome"),
        )

    def scan_from_event(self, event: ScanEvent, event_at: datetime) -> Scan:
        """A scan just stored, as the rules see it, without reading it back."""
        outcome = event.decoded.outcome if event.decoded else None
        context = vars(event.context)  # a pydantic model's fields, as scan_of reads them
        return self._scan(
            event.agent_id, event.incarnation, event.seq, event_at, event.raw, context, outcome
        )

    def _scan(
        self,
        agent_id: str,
        incarnation: str,
        seq: int,
        event_at: datetime,
        raw: str,
        context: Mapping[str, Any],
        outcome: str | None,
    ) -> Scan:
        """The hub decodes raw itself (rule 2); the rest is the context the person saw."""
        at = utc(event_at)
        result = self._decode(raw)
        decoded = result if isinstance(result, Decoded) else None
        gs1 = decoded.fields if decoded and decoded.scheme.startswith("gs1") else {}
        return Scan(
            key=event_key(at, agent_id, incarnation, seq),
            at=at,
            agent_id=agent_id,
            kind=decoded.kind.value if decoded else None,
            code=decoded.key if decoded else None,
            kept=outcome in (None, Outcome.KEPT),
            blocked=outcome == Outcome.BLOCKED,
            action=context.get("action"),
            session_id=context.get("session_id"),
            session_kind=context.get("session_kind"),
            target=context.get("target"),
            condition=context.get("condition"),
            operator=context.get("operator"),
            station=context.get("station"),
            lot=gs1.get("10"),
            expiry=gs1.get("17"),
        )

    def apply(
        self,
        conn: Connection,
        ranges: Sequence[Range],
        fresh: Fresh | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> int:
        """Reconcile the scans of ``ranges``, in the order given; return how many ranges it
        applied. ``fresh`` holds scans stored in this transaction, which need not be read
        back. ``stop`` is asked after each range but the last: when true the pass writes
        what it applied and ends there."""
        fresh = fresh or {}
        groups = [self._scans(conn, whole, fresh) for whole in ranges]
        unit = Unit(conn, self.t, self.live, self.policy)
        reads = Reads(unit)
        writers = Writers(unit, reads)
        reads.prefetch([scan for group in groups for scan in group])
        applied = 0
        for group in groups:
            for scan in group:
                for change in rules.decide(scan, reads.view(scan), self.policy):
                    entity, key = writers.write(scan, change)
                    if unit.trail is not None and not isinstance(change, ch.Alert):
                        unit.trail.add(scan, type(change).__name__, entity, key, change)
            applied += 1
            if stop is not None and applied < len(groups) and stop():
                break
        unit.flush()
        return applied

    def _scans(self, conn: Connection, whole: Range, fresh: Fresh) -> list[Scan]:
        """The scans of one range, as held from ingest or read back from the log."""
        agent_id, incarnation, after, upto = whole
        held = [fresh.get((agent_id, incarnation, seq)) for seq in range(after + 1, upto + 1)]
        if all(held):
            return [self.scan_from_event(*h) for h in held if h is not None]
        c = scan_log.c
        rows = conn.execute(
            sa.select(
                c.agent_id,
                c.incarnation,
                c.seq,
                sa.func.coalesce(c.event_at, c.scanned_at).label("event_at"),
                c.raw,
                c.payload,
            )
            .where(
                c.agent_id == agent_id,
                c.incarnation == incarnation,
                c.seq > after,
                c.seq <= upto,
                c.duplicate.is_(False),  # applied already under its first key
            )
            .order_by(c.seq)
        ).all()
        return [self.scan_of(row) for row in rows]
