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
from hub.domain.statuses import SessionKind
from hub.reconcile.capture import Capture
from hub.reconcile.reads import Reads
from hub.reconcile.unit import Tables, Unit
from hub.reconcile.writers import Writers
from protocol.barcodes import DEFAULT_RULES, Decoded, DecodeRules, Result, decode
from protocol.messages import ScanEvent
from protocol.sterilizer import SterilizerReading
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
        if (line := payload.get("sterilizer")) is not None:  # a scan dumped whole has null
            physical = SterilizerReading.model_validate(line)
            return _reading(row.agent_id, row.incarnation, row.seq, row.event_at, row.raw, physical)
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
        if event.sterilizer is not None:
            return _reading(
                event.agent_id, event.incarnation, event.seq, event_at, event.raw, event.sterilizer
            )
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
        groups = self._groups(conn, ranges, fresh)
        unit = Unit(conn, self.t, self.live, self.policy)
        reads = Reads(unit)
        writers = Writers(unit, reads)
        capture = Capture(unit, writers)
        reads.prefetch([scan for group in groups for scan in group if scan.reading is None])
        applied = 0
        for group in groups:
            for scan in group:
                if scan.reading is not None:
                    capture.take(scan)
                    continue
                for change in rules.decide(scan, reads.view(scan), self.policy):
                    entity, key = writers.write(scan, change)
                    if _names_a_load(change):
                        capture.attach_waiting(scan, key)
                    if unit.trail is not None and not isinstance(change, ch.Alert):
                        unit.trail.add(scan, type(change).__name__, entity, key, change)
            applied += 1
            if stop is not None and applied < len(groups) and stop():
                break
        unit.flush()
        return applied

    def _groups(self, conn: Connection, ranges: Sequence[Range], fresh: Fresh) -> list[list[Scan]]:
        """The scans of each range, as held from ingest or else read back from the log."""
        held = {
            whole: [
                fresh.get((whole[0], whole[1], seq)) for seq in range(whole[2] + 1, whole[3] + 1)
            ]
            for whole in ranges
        }
        rows = read_back(conn, [whole for whole, scans in held.items() if not all(scans)])
        return [
            [self.scan_from_event(*h) for h in held[whole] if h is not None]
            if all(held[whole])
            else [self.scan_of(row) for row in rows.get(whole, [])]
            for whole in ranges
        ]


def _names_a_load(change: ch.Change) -> bool:
    """A load opened, numbered or typed: a cycle captured before it may be its own, or its
    own may be judged by another cycle type."""
    if isinstance(change, ch.OpenSession):
        return change.kind == SessionKind.LOAD
    return isinstance(change, ch.CycleField) and change.name in ("cycle_number", "cycle_type")


def _reading(
    agent_id: str,
    incarnation: str,
    seq: int,
    event_at: datetime,
    raw: str,
    line: SterilizerReading,
) -> Scan:
    """A line of a sterilizer's record: not decoded as a barcode, never seen by the rules."""
    at = utc(event_at)
    return Scan(
        key=event_key(at, agent_id, incarnation, seq),
        at=at,
        agent_id=agent_id,
        kind=None,
        code=None,
        kept=True,
        reading=line,
        raw=raw,
    )


# Scans already applied under their first key (duplicate) are never applied again.
_ONE_RANGE = sa.text(
    "SELECT agent_id, incarnation, seq, coalesce(event_at, scanned_at) AS event_at, raw, "
    "payload FROM scan_log WHERE agent_id = :agent_id AND incarnation = "
    ":incarnation AND seq > :after AND seq <= :upto AND NOT duplicate ORDER BY seq"
).columns(event_at=sa.DateTime(timezone=True))
# PostgreSQL: every range in one statement, spread from arrays by unnest and joined to the
# log by its key, as Bulk writes (store/db.py). A statement per range cost the leader of
# three hubs a fifth of its time (py-spy --gil): it reads back the two thirds of the scans
# the other hubs ingested, a few scans of each of many stations per step.
_RANGES = sa.text(
    "SELECT r.n, s.agent_id, s.incarnation, s.seq, coalesce(s.event_at, s.scanned_at) AS "
    "event_at, s.raw, s.payload FROM unnest(CAST(:agents AS text[]), CAST(:incarnations AS "
    "text[]), CAST(:afters AS bigint[]), CAST(:uptos AS bigint[])) WITH ORDINALITY AS r(a, i, "
    "after, upto, n) JOIN scan_log s ON s.agent_id = r.a AND s.incarnation = r.i AND s.seq > "
    "r.after AND s.seq <= r.upto WHERE NOT s.duplicate ORDER BY r.n, s.seq"
).columns(event_at=sa.DateTime(timezone=True))
RANGES_PER_QUERY = 500


def read_back(conn: Connection, ranges: Sequence[Range]) -> dict[Range, list[Any]]:
    """Each range's scans from the log, in seq order."""
    found: dict[Range, list[Any]] = {}
    if conn.dialect.name != "postgresql":
        for whole in ranges:
            found[whole] = list(conn.execute(_ONE_RANGE, whole._asdict()))
        return found
    for at in range(0, len(ranges), RANGES_PER_QUERY):
        chunk = ranges[at : at + RANGES_PER_QUERY]
        params = {
            "agents": [r.agent_id for r in chunk],
            "incarnations": [r.incarnation for r in chunk],
            "afters": [r.after for r in chunk],
            "uptos": [r.upto for r in chunk],
        }
        for row in conn.execute(_RANGES, params):
            found.setdefault(chunk[row.n - 1], []).append(row)  # n: the range's ordinal
    return found
