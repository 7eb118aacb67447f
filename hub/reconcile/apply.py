"""The database edge of reconcile: read what the rules need, write what they decide.

One pass per projection step (projector.py). A pass takes the step's seq ranges (each
agent's scans in seq order), reads the records they touch with a few ``IN`` queries,
applies ``rules.decide`` to every scan in memory, and writes the changed rows back in bulk
(rows.py says why). A ``Reconciler`` writes to a ``Tables`` set, so
``rebuild`` runs this very code into fresh tables.
"""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple, assert_never

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.domain import changes as ch
from hub.domain import rules
from hub.domain.facts import (
    DEFAULT_POLICY,
    CycleFacts,
    CycleState,
    DayFacts,
    ItemFacts,
    LoadFacts,
    Policy,
    Scan,
    SessionView,
    TrayFacts,
    View,
    event_key,
    utc,
)
from hub.domain.folds import (
    EquipmentFact,
    assignment_ends,
    fold_equipment,
    next_inspection,
    recipe_of,
)
from hub.reconcile import audit
from hub.reconcile.rows import IN_CHUNK, Row, Rows
from hub.store import records
from hub.store.alerts import Alerts
from hub.store.tables import scan_log
from protocol.barcodes import DEFAULT_RULES, Decoded, DecodeRules, Result, decode
from protocol.messages import ScanEvent
from protocol.vocabulary import Outcome

# Which reference table registers a decoded kind.
_REFERENCE_OF = {
    "instrument": "instruments",
    "product": "instruments",
    "tray": "trays",
    "asset": "assets",
    "sterilizer": "sterilizers",
    "location": "locations",
    "case": "cases",
}
_ITEM_KINDS = frozenset({"instrument", "product", "tray"})


@dataclass(frozen=True)
class Tables:
    sessions: sa.Table
    session_items: sa.Table
    cycles: sa.Table
    bi_results: sa.Table
    items: sa.Table
    tray_checklists: sa.Table
    usage_logs: sa.Table
    assets: sa.Table
    assignments: sa.Table
    equipment_events: sa.Table
    equipment_logs: sa.Table
    inspections: sa.Table

    @classmethod
    def live(cls) -> Tables:
        return cls(*records.RECORDS)


# Scans ingest has just stored, with their event times, by (agent, incarnation, seq).
Fresh = dict[tuple[str, str, int], tuple[ScanEvent, datetime]]


class Range(NamedTuple):
    """Seqs ``after + 1 .. upto`` of one agent's incarnation, newly contiguous."""

    agent_id: str
    incarnation: str
    after: int
    upto: int


@functools.cache
def _last_session_query(sessions: sa.Table, by: str) -> sa.Select[tuple[str]]:
    """Built once per table and column: a statement costs more to build than to run."""
    s = sessions.c
    return (
        sa.select(s.session_id)
        .where(
            s.kind == sa.bindparam("kind"),
            s[by] == sa.bindparam("value"),
            s.status != "cancelled",
            s.opened_key < sa.bindparam("before"),
        )
        .order_by(s.opened_key.desc())
        .limit(1)
    )


@functools.cache
def _day_queries(cycles: sa.Table, sessions: sa.Table) -> tuple[sa.Select[tuple[str]], ...]:
    """A sterilizer's test cycles between two keys, and its first loads there not cancelled
    as stored (up to a limit). Built once per table set."""
    c, s = cycles.c, sessions.c
    between = (
        c.sterilizer == sa.bindparam("sterilizer"),
        c.started_key > sa.bindparam("low"),
        c.started_key < sa.bindparam("high"),
    )
    tests = sa.select(c.session_id).where(*between, c.cycle_type.in_(sorted(rules.TEST_CYCLES)))
    loads = (
        sa.select(c.session_id)
        .join(sessions, s.session_id == c.session_id)
        .where(
            *between,
            s.status != "cancelled",
            sa.or_(c.cycle_type.is_(None), c.cycle_type.not_in(sorted(rules.TEST_CYCLES))),
        )
        .order_by(c.started_key)
        .limit(sa.bindparam("limit"))
    )
    return tests, loads


def _facts(cycle: Row, session: Row | None) -> CycleFacts:
    return CycleFacts(
        cycle["session_id"],
        cycle["cycle_type"],
        cycle["started_key"],
        cycle["completed_key"],
        cycle["result"],
        session is not None and session["status"] == "cancelled",
    )


def _state(cycle: Row) -> CycleState:
    return CycleState(
        cycle["result"],
        cycle["completed_key"],
        cycle["completed_at"],
        bool(cycle["implant"]),
        bool(cycle["early_release_reason"]),
        cycle["bi_result"],
        cycle["bi_key"],
    )


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
        work = _Pass(conn, self.t, self.live, self.policy)
        work.prefetch([scan for group in groups for scan in group])
        applied = 0
        for group in groups:
            for scan in group:
                work.apply(scan)
            applied += 1
            if stop is not None and applied < len(groups) and stop():
                break
        work.flush()
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


class _Pass:
    """One transaction's worth of reconciling: the records it touches, held in memory."""

    def __init__(self, conn: Connection, tables: Tables, live: bool, policy: Policy) -> None:
        self.conn = conn
        self.t = tables
        self.live = live
        self.policy = policy
        self.now = datetime.now(UTC)
        # Reference rows are read once per pass: an import may change them at any time.
        self.reference = {ref: Rows(table) for ref, table in records.REFERENCE.items()}
        self.sessions = Rows(tables.sessions, index=("key", "agent_id"))
        self.session_items = Rows(tables.session_items, index=("session_id",))
        self.cycles = Rows(tables.cycles, index=("sterilizer",))
        self.bi_results = Rows(tables.bi_results, index=("label",))
        self.items = Rows(tables.items)
        self.checklists = Rows(tables.tray_checklists)
        self.usage = Rows(tables.usage_logs)
        self.assets = Rows(tables.assets)
        self.assignments = Rows(tables.assignments, index=("asset",))
        self.equipment_events = Rows(tables.equipment_events, index=("asset",))
        self.inspections = Rows(tables.inspections)
        self._cancelled: set[str] = set()  # sessions this pass cancelled
        self.last_assignment: dict[str, str | None] = {}  # newest stored key per asset
        self.loans: dict[str, list[Row]] = {}  # each asset's equipment log, folded again
        self.alerts = Alerts(self.now)
        self.glns: dict[str, str | None] = {}  # GLN: the location registered with it
        self.trail = audit.Trail(conn) if live else None

    # -- reads, in bulk --------------------------------------------------------------------

    def prefetch(self, scans: list[Scan]) -> None:
        """Read what these scans will touch, a few queries per table."""
        conn = self.conn
        sids = {s.session_id for s in scans if s.session_id}
        codes: defaultdict[str, set[str]] = defaultdict(set)
        for s in scans:
            if s.code and s.kind:
                codes[s.kind].add(s.code)
        items = set().union(*(codes[k] for k in _ITEM_KINDS))
        for table in (self.sessions, self.cycles, self.checklists, self.usage):
            table.prefetch(conn, "session_id", sids)
        # Only the items these scans may add, and the whole list of the sessions they close
        # (a porter's move may collect thousands of assets, and a step may hold few scans).
        closing = {s.session_id for s in scans if s.action == "close" and s.session_id}
        self.session_items.prefetch(conn, "session_id", closing)
        self.session_items.prefetch_keys(
            conn,
            {
                (s.session_id, action, s.code)
                for s in scans
                if s.session_id and s.code and s.action
                for action in (s.action, "add")
            },
        )
        self.items.prefetch(conn, "key", items)
        self.assets.prefetch(conn, "key", codes["asset"])
        self._prefetch_last_assignments(codes["asset"])
        self.equipment_events.prefetch(conn, "asset", codes["asset"])
        # A BI names its cycle label, and so does the scan that numbers a cycle.
        labels = {s.target for s in scans if s.action == "bi_result"} | codes["sterilizer"]
        self.bi_results.prefetch(conn, "label", labels)
        used = (self.items.get(conn, s.code) for s in scans if s.action == "use" and s.code)
        self.cycles.prefetch(conn, "session_id", {row["last_cycle"] for row in used if row})
        codes["sterilizer"] |= {c.rpartition(".")[0] for c in codes["sterilizer"]}
        codes["location"] |= {s.target for s in scans if s.action == "close" and s.target}
        codes["case"] |= {
            row["key"]
            for sid in sids
            if (row := self.sessions.get(conn, sid)) is not None and row["kind"] == "case"
        }
        for kind, ref in _REFERENCE_OF.items():
            self.reference[ref].prefetch(conn, "code", codes[kind])

    def _prefetch_last_assignments(self, assets: Iterable[str]) -> None:
        """Each asset's newest stored assignment: a move in event order changes only that
        one's end, so the rest of a history that grows all year need not be read."""
        a = self.t.assignments.c
        wanted = sorted({x for x in assets if x not in self.last_assignment})
        for at in range(0, len(wanted), IN_CHUNK):
            chunk = wanted[at : at + IN_CHUNK]
            self.last_assignment.update(dict.fromkeys(chunk))
            newest = self.conn.execute(
                sa.select(a.asset, sa.func.max(a.event_key))
                .where(a.asset.in_(chunk))
                .group_by(a.asset)
            ).all()
            self.last_assignment.update({asset: key for asset, key in newest})
            self.assignments.prefetch_keys(self.conn, [tuple(row) for row in newest])

    def _assignments_from(self, asset: str, key: str) -> list[Row]:
        """The asset's assignments from its newest stored one on, which is all that a move
        at ``key`` can change; a move older than that reads the whole history."""
        newest = self.last_assignment[asset]
        if newest is not None and key < newest:
            return self.assignments.where(self.conn, "asset", asset)
        # Only from the newest stored on: other older rows may be held, not all of them.
        held = self.assignments.held_where("asset", asset)
        return [row for row in held if newest is None or row["event_key"] >= newest]

    def _asset_days(self, asset: str, column: str) -> int | None:
        """A care interval of the asset: its own, or else its model's."""
        registered = self._reference("assets", asset)
        if registered is None:
            return None
        model = self._reference("asset_models", registered["model"] or "")
        own = registered[column]
        return int(own) if own else (int(model[column]) if model and model[column] else None)

    def _location(self, key: str) -> str:
        """A location as the records name it: a GS1 location number (414) read from a
        wall label becomes the registered location that has that GLN."""
        scheme, _, gln = key.rpartition(":")
        if scheme != "gs1:414":
            return key
        if gln not in self.glns:
            ref = records.ref_locations
            found = self.conn.execute(sa.select(ref.c.code).where(ref.c.gln == gln)).scalar()
            self.glns[gln] = found
        return self.glns[gln] or key

    def _reference(self, ref: str, code: str) -> Row | None:
        """The reference row of a code, or None when nobody registered it."""
        return self.reference[ref].get(self.conn, code)

    def _members(self, session_id: str) -> list[str]:
        """What a session collected (``add``), in event order."""
        rows = self.session_items.where(self.conn, "session_id", session_id)
        return [
            r["item"] for r in sorted(rows, key=lambda r: r["event_key"]) if r["action"] == "add"
        ]

    def _view(self, scan: Scan) -> View:
        """The facts ``rules.decide`` reads for this scan, as stored or changed in this pass:
        only what its action needs."""
        session = self._session(scan)
        if session is None or session.status != "open" or not scan.kept:
            return View(session, self._open_case(scan))
        if session.kind == "case" and scan.action in ("use", "return") and scan.code:
            return View(session, item=self._item_facts(scan, session.session_id, scan.code))
        if scan.action == "close" and session.kind == "tray":
            return View(session, tray=self._tray_facts(session))
        if scan.action == "close" and session.kind == "load":
            return View(session, day=self._day_facts(session.session_id))
        return View(session, self._open_case(scan))

    def _session(self, scan: Scan) -> SessionView | None:
        if not scan.session_id:
            return None
        row = self.sessions.get(self.conn, scan.session_id)
        if row is None:
            return None
        members: tuple[str, ...] = ()
        if scan.action == "close" and row["kind"] == "move":
            members = tuple(self._members(scan.session_id))
        return SessionView(
            row["session_id"], row["kind"], row["key"], row["status"], members, row["operator"]
        )

    def _item_facts(self, scan: Scan, session_id: str, item: str) -> ItemFacts:
        """An item used or returned in a case, as it was before this scan."""
        row = self.items.get(self.conn, item)
        load = self._load_before(item, row, scan.key) if scan.action == "use" else None
        cycle = self.cycles.get(self.conn, load) if load else None
        return ItemFacts(
            row["status"] if row else None,
            LoadFacts(cycle["session_id"], cycle["sterilizer"], cycle["status"]) if cycle else None,
            self.usage.get(self.conn, session_id, item) is not None,
        )

    def _tray_facts(self, session: SessionView) -> TrayFacts:
        """A closing assembly: what was scanned, and the tray's count sheet."""
        scanned = self._members(session.session_id)
        registered = self._reference("trays", session.key)
        self.reference["instruments"].prefetch(self.conn, "code", scanned)
        categories = {
            code: row["category"] or ""
            for code in scanned
            if (row := self._reference("instruments", code)) is not None
        }
        recipe = recipe_of(registered["recipe"]) if registered else {}
        return TrayFacts(session.key, tuple(scanned), categories, recipe)

    def _day_facts(self, session_id: str) -> DayFacts:
        """A closing load, and its sterilizer's day before it (the Bowie-Dick rule)."""
        cycle = self._cycle(session_id)
        sterilizer = cycle["sterilizer"]
        registered = self._reference("sterilizers", sterilizer)
        types = json.loads(registered["cycle_types"]) if registered else []
        prevac = "prevac" in types or cycle["cycle_type"] == "prevac"
        day = cycle["started_key"][:10]  # the UTC day of event time: keys begin with it
        earlier = tuple(
            _facts(c, self.sessions.get(self.conn, c["session_id"]))
            for c in self._day_before(sterilizer, day, cycle["started_key"])
        )
        return DayFacts(_facts(cycle, self.sessions.get(self.conn, session_id)), earlier, prevac)

    def _open_case(self, scan: Scan) -> SessionView | None:
        """For a scan that opens a case: the station's case before it. The station's scans
        come in seq order, so that case is already here."""
        if scan.action != "open" or scan.session_kind != "case":
            return None
        row = self._last_session_before(scan.key, "case", "agent_id", scan.agent_id)
        if row is None:
            return None
        return SessionView(row["session_id"], row["kind"], row["key"], row["status"])

    def _last_session_before(self, before: str, kind: str, by: str, value: str) -> Row | None:
        """The newest ``kind`` session, not cancelled, whose ``by`` column (``key`` or
        ``agent_id``) is ``value``, opened before ``before``: stored, or new or changed in
        this pass."""
        stored = self.conn.execute(
            _last_session_query(self.t.sessions, by),
            {"kind": kind, "value": value, "before": before},
        ).scalar()
        if stored is not None:
            self.sessions.prefetch_keys(self.conn, [(stored,)])
        found = [
            (row["opened_key"], row["session_id"])
            for row in self.sessions.held_where(by, value)
            if row["kind"] == kind and row["status"] != "cancelled" and row["opened_key"] < before
        ]
        return self.sessions.get(self.conn, max(found)[1]) if found else None

    # -- apply -----------------------------------------------------------------------------

    def apply(self, scan: Scan) -> None:
        for change in rules.decide(scan, self._view(scan), self.policy):
            entity, key = self._write(scan, change)
            if self.trail is not None and not isinstance(change, ch.Alert):
                self.trail.add(scan, type(change).__name__, entity, key, change)

    def _write(self, scan: Scan, change: ch.Change) -> tuple[str, str]:
        """One handler per kind of change; returns the entity it changed, for the audit."""
        match change:
            case ch.Alert():
                self._raise(scan, change)
                return "alert", change.kind
            case ch.OpenSession():
                self._open(scan, change)
                return change.kind, change.session_id
            case ch.AddItem():
                self._add(scan, change)
                return change.item_kind, change.item
            case ch.CloseSession():
                self._close(scan, change)
                return change.kind, change.session_id
            case ch.CancelSession():
                self._cancel(scan, change)
                return change.kind, change.session_id
            case ch.CycleField():
                self.cycles.update(self._cycle(change.session_id), **{change.name: change.value})
                self._refold_cycle(change.session_id)
                return "load", change.session_id
            case ch.BiResult():
                self._bi(scan, change)
                return "bi", change.label
            case ch.ChecklistResult():
                self._checklist(scan, change)
                return "tray", change.tray
            case ch.MoveAssets():
                self.assets.prefetch(self.conn, "key", change.assets)
                self._prefetch_last_assignments(change.assets)
                location = self._location(change.location)
                for asset in change.assets:
                    self._move(scan, asset, location)
                return "move", location
            case ch.Inspection():
                self._inspect(scan, change)
                return "inspection", change.asset
            case ch.EquipmentEvent():
                self._equipment(scan, change)
                return "asset", change.asset
            case _:
                assert_never(change)

    def _open(self, scan: Scan, change: ch.OpenSession) -> None:
        self.sessions.insert(
            self.conn,
            {
                "session_id": change.session_id,
                "kind": change.kind,
                "key": change.key,
                "agent_id": scan.agent_id,
                "station": scan.station,
                "operator": scan.operator,
                "opened_key": scan.key,
                "opened_at": scan.at,
                "status": "open",
            },
        )
        if change.kind == "load":
            self._check_registered(scan, "sterilizers", change.key)
            self.cycles.insert(
                self.conn,
                {
                    "session_id": change.session_id,
                    "sterilizer": change.key,
                    "operator": scan.operator,
                    "started_key": scan.key,
                    "started_at": scan.at,
                    "status": "open",
                    "item_count": 0,
                    "implant": False,
                },
            )
        elif change.kind == "tray":
            self._ensure_item(scan, change.key, "tray")
            self.checklists.insert(
                self.conn,
                {
                    "session_id": change.session_id,
                    "tray": change.key,
                    "operator": scan.operator,
                    "started_at": scan.at,
                    "status": "open",
                    "count": 0,
                    "missing": "{}",
                    "extra": "[]",
                },
            )
        elif change.kind == "case":
            self._check_registered(scan, "cases", change.key)

    def _add(self, scan: Scan, change: ch.AddItem) -> None:
        added = self.session_items.insert(
            self.conn,
            {
                "session_id": change.session_id,
                "action": change.action,
                "item": change.item,
                "event_key": scan.key,
                "at": scan.at,
                "condition": change.condition,
            },
        )
        if change.item_kind == "asset":
            self._ensure_asset(scan, change.item)
            return
        self._ensure_item(scan, change.item, change.item_kind)
        if change.kind == "load":
            cycle = self._cycle(change.session_id)
            if added:
                self.cycles.update(cycle, item_count=cycle["item_count"] + 1)
            inside = self._tray_contents(change.item, scan.key)
            self.items.prefetch(self.conn, "key", inside)
            self.reference["instruments"].prefetch(self.conn, "code", inside)
            if any(self._is_implant(item) for item in (change.item, *inside)):
                self.cycles.update(cycle, implant=True)
            for item in (change.item, *inside):
                self._lww(item, "last_cycle", change.session_id, scan.key)
                self._set_status(item, "processing", None, scan.key)
                # A failed BI may have reached the hub before this item's scan did.
                self._take_outcome(item, cycle)
        elif change.kind == "tray":
            self._lww(change.item, "tray", change.session_key, scan.key)
            self._set_status(change.item, "in_service", scan.station, scan.key)
            self._join_later_loads(change)
        elif change.kind == "case":
            self._use_or_return(scan, change)

    def _close(self, scan: Scan, change: ch.CloseSession) -> None:
        session = self.sessions.get(self.conn, change.session_id)
        assert session is not None  # rules.decide closes only a session it was shown
        self.sessions.update(session, status="closed", closed_at=scan.at, result=change.result)
        if change.kind == "load":
            self.cycles.update(
                self._cycle(change.session_id),
                completed_key=scan.key,
                completed_at=scan.at,
                result=change.result,
                released_by=scan.operator if change.result == "pass" else None,
            )
            self._refold_cycle(change.session_id)

    def _cancel(self, scan: Scan, change: ch.CancelSession) -> None:
        session = self.sessions.get(self.conn, change.session_id)
        assert session is not None
        self.sessions.update(session, status="cancelled", closed_at=scan.at)
        self._cancelled.add(change.session_id)
        if change.kind == "load":
            self._refold_cycle(change.session_id)
        elif change.kind == "tray":
            checklist = self.checklists.get(self.conn, change.session_id)
            if checklist is not None:
                self.checklists.update(checklist, status="cancelled", completed_at=scan.at)

    def _use_or_return(self, scan: Scan, change: ch.AddItem) -> None:
        case = change.session_key
        registered = self._reference("cases", case)
        location = (registered["room"] if registered else None) or scan.station
        status = rules.item_status_after(change.action, change.condition)
        if change.action == "use":
            self._set_status(change.item, status, location, scan.key)
            self.usage.insert(
                self.conn,
                {
                    "session_id": change.session_id,
                    "item": change.item,
                    "case_ref": case,
                    "used_at": scan.at,
                    "operator": scan.operator,
                },
            )
            return
        self._set_status(change.item, status, location, scan.key)
        if change.condition:
            self._lww(change.item, "condition", change.condition, scan.key)
        usage = self.usage.get(self.conn, change.session_id, change.item)
        if usage is not None:
            self.usage.update(usage, returned_at=scan.at, condition=change.condition)
            return
        self.usage.insert(
            self.conn,
            {
                "session_id": change.session_id,
                "item": change.item,
                "case_ref": case,
                "returned_at": scan.at,
                "condition": change.condition,
                "operator": scan.operator,
            },
        )

    def _load_before(self, item: str, row: Row | None, key: str) -> str | None:
        """The last load the item was put in before ``key``."""
        last_key = row["last_cycle_key"] if row else None
        if row is None or last_key is None:
            return None
        if last_key < key:
            return str(row["last_cycle"])
        # A late use: the item has been through a load since. Look further back.
        earlier = self._loads_of(item, "", key)
        return earlier[-1][1] if earlier else None

    def _checklist(self, scan: Scan, change: ch.ChecklistResult) -> None:
        checklist = self.checklists.get(self.conn, change.session_id)
        assert checklist is not None  # opened with its session
        self.checklists.update(
            checklist,
            status="short" if change.short else "complete",
            completed_at=scan.at,
            count=change.count,
            missing=json.dumps(change.missing),
            extra=json.dumps(change.extra),
        )
        self._set_status(change.tray, "in_service", scan.station, scan.key)

    def _bi(self, scan: Scan, change: ch.BiResult) -> None:
        self.bi_results.insert(
            self.conn,
            {
                "label": change.label,
                "event_key": scan.key,
                "result": change.result,
                "at": scan.at,
                "operator": scan.operator,
            },
        )
        sterilizer, _, number = change.label.rpartition(".")
        for session_id in self._cycles_labelled(sterilizer, number):
            self._refold_cycle(session_id)

    def _day_before(self, sterilizer: str, day: str, before: str) -> list[Row]:
        """What the Bowie-Dick rule needs of the sterilizer's day before key ``before``, as
        stored or as changed in this pass: its test cycles, and enough of its loads to know
        whether one came first. A busy sterilizer runs many loads a day, and reading them
        all at every close made projection quadratic in the day's loads."""
        stored_tests, stored_loads = _day_queries(self.t.cycles, self.t.sessions)
        bounds = {"sterilizer": sterilizer, "low": day, "high": before}
        found = list(self.conn.execute(stored_tests, bounds).scalars())
        # A load the stored rows call open may be cancelled in this pass: ask for one more
        # than this pass cancelled, and at least one of them is still a load.
        limit = len(self._cancelled) + 1
        found += self.conn.execute(stored_loads, {**bounds, "limit": limit}).scalars()
        self.cycles.prefetch(self.conn, "session_id", found)
        held = {row["session_id"]: row for row in self.cycles.held_where("sterilizer", sterilizer)}
        for session_id in found:
            row = self.cycles.get(self.conn, session_id)
            if row is not None:
                held[session_id] = row
        return [row for row in held.values() if day < row["started_key"] < before]

    def _cycles_labelled(self, sterilizer: str, number: str) -> list[str]:
        """Loads of this sterilizer numbered ``number``, as stored or as changed in this pass."""
        cycles = self.t.cycles
        stored = self.conn.execute(
            sa.select(cycles.c.session_id).where(
                cycles.c.sterilizer == sterilizer, cycles.c.cycle_number == number
            )
        ).scalars()
        self.cycles.prefetch(self.conn, "session_id", stored)
        return sorted(
            row["session_id"]
            for row in self.cycles.held()
            if row["sterilizer"] == sterilizer and row["cycle_number"] == number
        )

    def _refold_cycle(self, session_id: str) -> None:
        cycle = self._cycle(session_id)
        session = self.sessions.get(self.conn, session_id)
        bi = None
        if cycle["cycle_number"]:
            label = f"{cycle['sterilizer']}.{cycle['cycle_number']}"
            found = self.bi_results.where(self.conn, "label", label)
            bi = max(found, key=lambda r: r["event_key"]) if found else None
        cancelled = session is not None and session["status"] == "cancelled"
        self.cycles.update(
            cycle,
            status=rules.cycle_status(
                cycle["result"],
                bi["result"] if bi else None,
                cancelled,
                cycle["implant"],
                bool(cycle["early_release_reason"]),
            ),
            bi_result=bi["result"] if bi else None,
            bi_key=bi["event_key"] if bi else None,
        )
        if rules.has_outcome(_state(cycle)):
            for item in self._load_contents(session_id):
                self._take_outcome(item, cycle)

    def _is_implant(self, item: str) -> bool:
        registered = self._reference("instruments", item)
        return registered is not None and bool(registered["implant"])

    def _take_outcome(self, item: str, cycle: Row) -> None:
        """An item in a load, itself or inside a tray, takes the load's outcome
        (``rules.contents_outcome``). Each status is the fact of the event that decided it
        (the completion, a failed BI), set again when more is known, so a use since stands."""
        for status, key in rules.contents_outcome(_state(cycle)):
            self._set_status(item, status, None, key)
        row = self.items.get(self.conn, item)
        if cycle["result"] == "pass" and row is not None:
            last = row["last_sterilized_at"]
            if last is None or last < cycle["completed_at"]:
                self.items.update(row, last_sterilized_at=cycle["completed_at"])

    # -- containment: a tray's assembled contents go where the tray goes ---------------------

    def _load_contents(self, session_id: str) -> list[str]:
        """What a load held: each item added, and the contents of each tray when it went in."""
        added = sorted(
            (r["event_key"], r["item"])
            for r in self.session_items.where(self.conn, "session_id", session_id)
            if r["action"] == "add"
        )
        self.items.prefetch(self.conn, "key", [item for _, item in added])
        contents: list[str] = []
        for key, item in added:
            contents.append(item)
            contents.extend(self._tray_contents(item, key))
        self.items.prefetch(self.conn, "key", contents)
        return contents

    def _tray_contents(self, tray: str, before: str) -> tuple[str, ...]:
        """The instruments of the tray's last assembly (not cancelled) begun before
        ``before``: what a tray holds when it goes into a load. Nothing for a non-tray."""
        row = self.items.get(self.conn, tray)
        if row is None or row["kind"] != "tray":
            return ()
        session = self._assembly_before(tray, before)
        return tuple(self._members(session)) if session else ()

    def _assembly_before(self, tray: str, before: str) -> str | None:
        """The tray's last assembly session opened before ``before``."""
        row = self._last_session_before(before, "tray", "key", tray)
        return str(row["session_id"]) if row else None

    def _join_later_loads(self, change: ch.AddItem) -> None:
        """An assembly that reaches the hub after its tray went into a load: the item
        joins each later load that this assembly was the tray's last before."""
        tray = self.items.get(self.conn, change.session_key)
        session = self.sessions.get(self.conn, change.session_id)
        if tray is None or session is None:
            return
        newest = tray["last_cycle_key"]
        if newest is None or newest < session["opened_key"]:
            return  # the usual order: the tray has not been loaded since; no query
        for key, load in self._loads_of(change.session_key, session["opened_key"]):
            if self._assembly_before(change.session_key, key) != change.session_id:
                continue
            self._lww(change.item, "last_cycle", load, key)
            self._set_status(change.item, "processing", None, key)
            cycle = self._cycle(load)
            if self._is_implant(change.item) and not cycle["implant"]:
                self.cycles.update(cycle, implant=True)
                self._refold_cycle(load)  # the whole load is held now, not just this item
            else:
                self._take_outcome(change.item, cycle)

    def _loads_of(self, item: str, after: str, before: str | None = None) -> list[tuple[str, str]]:
        """(add key, load) of every load the item was added to between ``after`` and ``before``,
        in event order."""
        t = self.t
        stored = self.conn.execute(
            sa.select(t.session_items.c.event_key, t.session_items.c.session_id)
            .select_from(
                t.session_items.join(
                    t.cycles, t.cycles.c.session_id == t.session_items.c.session_id
                )
            )
            .where(
                t.session_items.c.item == item,
                t.session_items.c.action == "add",
                t.session_items.c.event_key > after,
                t.session_items.c.event_key < (before or "~"),  # "~" sorts after any key
            )
        ).all()
        found = {(str(key), str(load)) for key, load in stored}
        found |= {
            (r["event_key"], r["session_id"])
            for r in self.session_items.pending()
            if r["item"] == item
            and r["action"] == "add"
            and after < r["event_key"] < (before or "~")
            and self.cycles.get(self.conn, r["session_id"]) is not None
        }
        return sorted(found)

    def _move(self, scan: Scan, asset: str, location: str) -> None:
        self._ensure_asset(scan, asset)
        self._check_registered(scan, "locations", location)
        self._prefetch_last_assignments([asset])
        newest = self.last_assignment[asset]
        if newest is None or newest < scan.key:
            self.assignments.absent((asset, scan.key))  # nothing stored is newer: no query
        self.assignments.insert(
            self.conn,
            {
                "asset": asset,
                "event_key": scan.key,
                "location": location,
                "started_at": scan.at,
                "moved_by": scan.operator,
            },
        )
        history = self._assignments_from(asset, scan.key)
        ends = assignment_ends([(r["event_key"], r["started_at"]) for r in history])
        for row in history:
            self.assignments.update(row, ended_at=ends[row["event_key"]])
        record = self.assets.get(self.conn, asset)
        assert record is not None  # ensured above
        if record["location_key"] is None or record["location_key"] < scan.key:
            self.assets.update(record, location=location, location_key=scan.key)

    def _equipment(self, scan: Scan, change: ch.EquipmentEvent) -> None:
        self._ensure_asset(scan, change.asset)
        self.equipment_events.insert(
            self.conn,
            {
                "asset": change.asset,
                "event_key": scan.key,
                "kind": change.kind,
                "patient": change.patient,
                "at": scan.at,
                "by": scan.operator,
            },
        )
        events = self.equipment_events.where(self.conn, "asset", change.asset)
        fold = fold_equipment(
            [
                EquipmentFact(r["event_key"], r["kind"], r["patient"], r["at"], r["by"])
                for r in events
            ],
            self._asset_days(change.asset, "loan_period_days"),
        )
        self.loans[change.asset] = [
            {
                "asset": change.asset,
                "loan_key": loan.loan_key,
                "patient": loan.patient,
                "loaned_at": loan.loaned_at,
                "returned_at": loan.returned_at,
                "cleaned_at": loan.cleaned_at,
                "status": loan.status,
                "lent_by": loan.lent_by,
                "due_back": loan.due_back,
            }
            for loan in fold.loans
        ]
        record = self.assets.get(self.conn, change.asset)
        assert record is not None  # ensured above
        self.assets.update(
            record, status=fold.status, status_key=fold.status_key, patient=fold.patient
        )

    def _inspect(self, scan: Scan, change: ch.Inspection) -> None:
        self._ensure_asset(scan, change.asset)
        due = next_inspection(scan.at, self._asset_days(change.asset, "inspection_interval_days"))
        self.inspections.insert(
            self.conn,
            {
                "asset": change.asset,
                "event_key": scan.key,
                "result": change.result,
                "at": scan.at,
                "inspector": scan.operator,
                "next_due": due,
            },
        )
        record = self.assets.get(self.conn, change.asset)
        assert record is not None  # ensured above
        if record["inspection_key"] is None or record["inspection_key"] < scan.key:
            self.assets.update(
                record,
                inspected_at=scan.at,
                inspection_key=scan.key,
                inspection_result=change.result,
                inspection_due=due,
            )

    # -- helpers ---------------------------------------------------------------------------

    def _cycle(self, session_id: str) -> Row:
        cycle = self.cycles.get(self.conn, session_id)
        assert cycle is not None  # every load session gets its cycle when it opens
        return cycle

    def _ensure_item(self, scan: Scan, code: str, kind: str) -> None:
        ref = "trays" if kind == "tray" else "instruments"
        values = {"kind": kind, "status": "in_service", "status_key": ""}
        self._first_sight(scan, self.items, ref, code, kind, values)

    def _ensure_asset(self, scan: Scan, code: str) -> None:
        self._first_sight(scan, self.assets, "assets", code, "asset", {"status": "available"})

    def _first_sight(
        self, scan: Scan, rows: Rows, ref: str, code: str, noun: str, values: dict[str, Any]
    ) -> None:
        """Create the record the first time a code is scanned, flagged if unregistered."""
        if rows.get(self.conn, code) is not None:
            return
        registered = self._reference(ref, code) is not None
        rows.insert(self.conn, {"key": code, "registered": registered, **values})
        if not registered:
            self._raise(scan, rules.unregistered(noun, code))

    def _check_registered(self, scan: Scan, ref: str, code: str) -> None:
        """A code with no record of its own (a sterilizer, case or location)."""
        if self._reference(ref, code) is None:
            self._raise(scan, rules.unregistered(ref.removesuffix("s"), code))

    def _set_status(self, item: str, status: str, location: str | None, key: str) -> None:
        """Rule 4 (``rules.supersedes``): the newest event, or the same one decided again."""
        row = self.items.get(self.conn, item)
        if row is None:
            return
        if rules.supersedes(row["status_key"], key, again=True):
            self.items.update(row, status=status, status_key=key)
        if location is not None:
            self._lww(item, "location", location, key)

    def _lww(self, item: str, column: str, value: str, key: str) -> None:
        row = self.items.get(self.conn, item)
        if row is None:
            return
        if rules.supersedes(row[f"{column}_key"], key):
            self.items.update(row, **{column: value, f"{column}_key": key})

    def _raise(self, scan: Scan, alert: ch.Alert) -> None:
        """Every alert the rules return goes through here. A rebuild raises none."""
        if self.live:
            self.alerts.add(
                alert.severity,
                alert.kind,
                scan.agent_id,
                alert.detail,
                alert.subject,
                alert.condition,
            )

    # -- write back ------------------------------------------------------------------------

    def flush(self) -> None:
        conn = self.conn
        for rows in (
            self.sessions,
            self.session_items,
            self.cycles,
            self.bi_results,
            self.items,
            self.checklists,
            self.usage,
            self.assets,
            self.assignments,
            self.equipment_events,
            self.inspections,
        ):
            rows.flush(conn)
        if self.loans:
            logs = self.t.equipment_logs
            conn.execute(
                logs.delete().where(logs.c.asset == sa.bindparam("target")),
                [{"target": asset} for asset in self.loans],
            )
            folded = [loan for loans in self.loans.values() for loan in loans]
            if folded:
                conn.execute(logs.insert(), folded)
        self.alerts.write(conn)
        if self.trail is not None:
            self.trail.flush()
