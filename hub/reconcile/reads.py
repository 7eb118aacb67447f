"""What a pass reads: the records a step's scans touch, prefetched in bulk, and the view
``rules.decide`` reads for each scan (facts.py), as stored or as changed in this pass;
and the containment queries (what a load held, what a tray held when it went in).
"""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from collections.abc import Container, Iterable

import sqlalchemy as sa

from hub.domain import bowie_dick, containment
from hub.domain.facts import (
    CycleFacts,
    DayFacts,
    ItemFacts,
    LoadFacts,
    Scan,
    SessionView,
    TrayFacts,
    View,
)
from hub.domain.folds import recipe_of
from hub.domain.statuses import SessionKind, SessionStatus
from hub.reconcile.rows import IN_CHUNK, Row
from hub.reconcile.unit import Unit
from hub.store import records
from protocol.barcodes import Kind
from protocol.vocabulary import Action

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


@functools.cache
def _last_session_query(sessions: sa.Table, by: str) -> sa.Select[tuple[str]]:
    """Built once per table and column: a statement costs more to build than to run."""
    s = sessions.c
    return (
        sa.select(s.session_id)
        .where(
            s.kind == sa.bindparam("kind"),
            s[by] == sa.bindparam("value"),
            s.status != SessionStatus.CANCELLED,
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
    tests = sa.select(c.session_id).where(
        *between, c.cycle_type.in_(sorted(bowie_dick.TEST_CYCLES))
    )
    loads = (
        sa.select(c.session_id)
        .join(sessions, s.session_id == c.session_id)
        .where(
            *between,
            s.status != SessionStatus.CANCELLED,
            sa.or_(c.cycle_type.is_(None), c.cycle_type.not_in(sorted(bowie_dick.TEST_CYCLES))),
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
        session is not None and session["status"] == SessionStatus.CANCELLED,
    )


class Reads:
    def __init__(self, unit: Unit) -> None:
        self.u = unit

    def prefetch(self, scans: list[Scan]) -> None:
        """Read what these scans will touch, a few queries per table."""
        conn = self.u.conn
        sids = {s.session_id for s in scans if s.session_id}
        codes: defaultdict[str, set[str]] = defaultdict(set)
        for s in scans:
            if s.code and s.kind:
                codes[s.kind].add(s.code)
        items = set().union(*(codes[k] for k in _ITEM_KINDS))
        for table in (self.u.sessions, self.u.cycles, self.u.checklists, self.u.usage):
            table.prefetch(conn, "session_id", sids)
        # Only the items these scans may add, and the whole list of the sessions they close
        # (a porter's move may collect thousands of assets, and a step may hold few scans).
        closing = {s.session_id for s in scans if s.action == "close" and s.session_id}
        self.u.session_items.prefetch(conn, "session_id", closing)
        self.u.session_items.prefetch_keys(
            conn,
            {
                (s.session_id, action, s.code)
                for s in scans
                if s.session_id and s.code and s.action
                for action in (s.action, "add")
            },
        )
        self.u.items.prefetch(conn, "key", items)
        self.u.assets.prefetch(conn, "key", codes["asset"])
        self.prefetch_last_assignments(codes["asset"])
        self.u.equipment_events.prefetch(conn, "asset", codes["asset"])
        # A BI names its cycle label, and so does the scan that numbers a cycle.
        labels = {s.target for s in scans if s.action == "bi_result"} | codes["sterilizer"]
        self.u.bi_results.prefetch(conn, "label", labels)
        used = (self.u.items.get(conn, s.code) for s in scans if s.action == "use" and s.code)
        self.u.cycles.prefetch(conn, "session_id", {row["last_cycle"] for row in used if row})
        codes["sterilizer"] |= {c.rpartition(".")[0] for c in codes["sterilizer"]}
        codes["location"] |= {s.target for s in scans if s.action == "close" and s.target}
        codes["case"] |= {
            row["key"]
            for sid in sids
            if (row := self.u.sessions.get(conn, sid)) is not None
            and row["kind"] == SessionKind.CASE
        }
        for kind, ref in _REFERENCE_OF.items():
            self.u.reference[ref].prefetch(conn, "code", codes[kind])

    def prefetch_last_assignments(self, assets: Iterable[str]) -> None:
        """Each asset's newest stored assignment: a move in event order changes only that
        one's end, so the rest of a history that grows all year need not be read."""
        a = self.u.t.assignments.c
        wanted = sorted({x for x in assets if x not in self.u.last_assignment})
        for at in range(0, len(wanted), IN_CHUNK):
            chunk = wanted[at : at + IN_CHUNK]
            self.u.last_assignment.update(dict.fromkeys(chunk))
            newest = self.u.conn.execute(
                sa.select(a.asset, sa.func.max(a.event_key))
                .where(a.asset.in_(chunk))
                .group_by(a.asset)
            ).all()
            self.u.last_assignment.update({asset: key for asset, key in newest})
            self.u.assignments.prefetch_keys(self.u.conn, [tuple(row) for row in newest])

    def assignments_from(self, asset: str, key: str) -> list[Row]:
        """The asset's assignments from its newest stored one on, which is all that a move
        at ``key`` can change; a move older than that reads the whole history."""
        newest = self.u.last_assignment[asset]
        if newest is not None and key < newest:
            return self.u.assignments.where(self.u.conn, "asset", asset)
        # Only from the newest stored on: other older rows may be held, not all of them.
        held = self.u.assignments.held_where("asset", asset)
        return [row for row in held if newest is None or row["event_key"] >= newest]

    def asset_days(self, asset: str, column: str) -> int | None:
        """A care interval of the asset: its own, or else its model's."""
        registered = self.u.registered("assets", asset)
        if registered is None:
            return None
        model = self.u.registered("asset_models", registered["model"] or "")
        own = registered[column]
        return int(own) if own else (int(model[column]) if model and model[column] else None)

    def location(self, key: str) -> str:
        """A location as the records name it: a GS1 location number (414) read from a
        wall label becomes the registered location that has that GLN."""
        scheme, _, gln = key.rpartition(":")
        if scheme != "gs1:414":
            return key
        if gln not in self.u.glns:
            ref = records.ref_locations
            found = self.u.conn.execute(sa.select(ref.c.code).where(ref.c.gln == gln)).scalar()
            self.u.glns[gln] = found
        return self.u.glns[gln] or key

    def members(self, session_id: str) -> list[str]:
        """What a session collected (``add``), in event order."""
        rows = self.u.session_items.where(self.u.conn, "session_id", session_id)
        return [
            r["item"] for r in sorted(rows, key=lambda r: r["event_key"]) if r["action"] == "add"
        ]

    def view(self, scan: Scan) -> View:
        """The facts ``rules.decide`` reads for this scan, as stored or changed in this pass:
        only what its action needs."""
        session = self.session(scan)
        if session is None or session.status != SessionStatus.OPEN or not scan.kept:
            return View(session, self.open_case(scan))
        if session.kind == SessionKind.CASE and scan.action in ("use", "return") and scan.code:
            return View(session, item=self.item_facts(scan, session.session_id, scan.code))
        if scan.action == "close" and session.kind == SessionKind.TRAY:
            return View(session, tray=self.tray_facts(session))
        if scan.action == "close" and session.kind == SessionKind.LOAD:
            return View(session, day=self.day_facts(session.session_id))
        return View(session, self.open_case(scan))

    def session(self, scan: Scan) -> SessionView | None:
        if not scan.session_id:
            return None
        row = self.u.sessions.get(self.u.conn, scan.session_id)
        if row is None:
            return None
        members: tuple[str, ...] = ()
        if scan.action == "close" and row["kind"] == SessionKind.MOVE:
            members = tuple(self.members(scan.session_id))
        return SessionView(
            row["session_id"], row["kind"], row["key"], row["status"], members, row["operator"]
        )

    def item_facts(self, scan: Scan, session_id: str, item: str) -> ItemFacts:
        """An item used or returned in a case, as it was before this scan."""
        row = self.u.items.get(self.u.conn, item)
        load = self.load_before(item, row, scan.key) if scan.action == "use" else None
        cycle = self.u.cycles.get(self.u.conn, load) if load else None
        return ItemFacts(
            row["status"] if row else None,
            LoadFacts(cycle["session_id"], cycle["sterilizer"], cycle["status"]) if cycle else None,
            self.u.usage.get(self.u.conn, session_id, item) is not None,
        )

    def tray_facts(self, session: SessionView) -> TrayFacts:
        """A closing assembly: what was scanned, and the tray's count sheet."""
        scanned = self.members(session.session_id)
        registered = self.u.registered("trays", session.key)
        self.u.reference["instruments"].prefetch(self.u.conn, "code", scanned)
        categories = {
            code: row["category"] or ""
            for code in scanned
            if (row := self.u.registered("instruments", code)) is not None
        }
        recipe = recipe_of(registered["recipe"]) if registered else {}
        return TrayFacts(session.key, tuple(scanned), categories, recipe)

    def day_facts(self, session_id: str) -> DayFacts:
        """A closing load, and its sterilizer's day before it (the Bowie-Dick rule)."""
        cycle = self.u.cycle(session_id)
        sterilizer = cycle["sterilizer"]
        registered = self.u.registered("sterilizers", sterilizer)
        types = json.loads(registered["cycle_types"]) if registered else []
        prevac = bowie_dick.is_prevac(types, cycle["cycle_type"])
        day = cycle["started_key"][:10]  # the UTC day of event time: keys begin with it
        earlier = tuple(
            _facts(c, self.u.sessions.get(self.u.conn, c["session_id"]))
            for c in self.day_before(sterilizer, day, cycle["started_key"])
        )
        return DayFacts(
            _facts(cycle, self.u.sessions.get(self.u.conn, session_id)), earlier, prevac
        )

    def open_case(self, scan: Scan) -> SessionView | None:
        """For a scan that opens a case: the station's case before it. The station's scans
        come in seq order, so that case is already here."""
        if scan.action != Action.OPEN or scan.session_kind != SessionKind.CASE:
            return None
        row = self.last_session_before(scan.key, "case", "agent_id", scan.agent_id)
        if row is None:
            return None
        return SessionView(row["session_id"], row["kind"], row["key"], row["status"])

    def last_session_before(self, before: str, kind: str, by: str, value: str) -> Row | None:
        """The newest ``kind`` session, not cancelled, whose ``by`` column (``key`` or
        ``agent_id``) is ``value``, opened before ``before``: stored, or new or changed in
        this pass."""
        stored = self.u.conn.execute(
            _last_session_query(self.u.t.sessions, by),
            {"kind": kind, "value": value, "before": before},
        ).scalar()
        if stored is not None:
            self.u.sessions.prefetch_keys(self.u.conn, [(stored,)])
        found = [
            (row["opened_key"], row["session_id"])
            for row in self.u.sessions.held_where(by, value)
            if row["kind"] == kind
            and row["status"] != SessionStatus.CANCELLED
            and row["opened_key"] < before
        ]
        return self.u.sessions.get(self.u.conn, max(found)[1]) if found else None

    def load_before(self, item: str, row: Row | None, key: str) -> str | None:
        """The last load the item was put in before ``key``."""
        last_key = row["last_cycle_key"] if row else None
        if row is None or last_key is None:
            return None
        # The usual order: its newest load is before the use, and no query is needed.
        newest = [(str(last_key), str(row["last_cycle"]))]
        return containment.load_at(key, newest if last_key < key else self.loads_of(item, "", key))

    def day_before(self, sterilizer: str, day: str, before: str) -> list[Row]:
        """What the Bowie-Dick rule needs of the sterilizer's day before key ``before``, as
        stored or as changed in this pass: its test cycles, and enough of its loads to know
        whether one came first. A busy sterilizer runs many loads a day, and reading them
        all at every close made projection quadratic in the day's loads."""
        stored_tests, stored_loads = _day_queries(self.u.t.cycles, self.u.t.sessions)
        bounds = {"sterilizer": sterilizer, "low": day, "high": before}
        found = list(self.u.conn.execute(stored_tests, bounds).scalars())
        # A load the stored rows call open may be cancelled in this pass: ask for one more
        # than this pass cancelled, and at least one of them is still a load.
        limit = len(self.u.cancelled) + 1
        found += self.u.conn.execute(stored_loads, {**bounds, "limit": limit}).scalars()
        self.u.cycles.prefetch(self.u.conn, "session_id", found)
        held = {
            row["session_id"]: row for row in self.u.cycles.held_where("sterilizer", sterilizer)
        }
        for session_id in found:
            row = self.u.cycles.get(self.u.conn, session_id)
            if row is not None:
                held[session_id] = row
        return [row for row in held.values() if day < row["started_key"] < before]

    def cycles_labelled(self, sterilizer: str, number: str) -> list[str]:
        """Loads of this sterilizer numbered ``number``, as stored or as changed in this pass."""
        cycles = self.u.t.cycles
        stored = self.u.conn.execute(
            sa.select(cycles.c.session_id).where(
                cycles.c.sterilizer == sterilizer, cycles.c.cycle_number == number
            )
        ).scalars()
        self.u.cycles.prefetch(self.u.conn, "session_id", stored)
        return sorted(
            row["session_id"]
            for row in self.u.cycles.held()
            if row["sterilizer"] == sterilizer and row["cycle_number"] == number
        )

    def is_implant(self, item: str) -> bool:
        registered = self.u.registered("instruments", item)
        return registered is not None and bool(registered["implant"])

    @property
    def implants(self) -> Container[str]:
        """The catalogue's implants, as ``in`` asks (read as it is asked)."""
        return _Implants(self)

    def load_contents(self, session_id: str) -> list[str]:
        """What a load held: each item added, and the contents of each tray when it went in."""
        added = sorted(
            (r["event_key"], r["item"])
            for r in self.u.session_items.where(self.u.conn, "session_id", session_id)
            if r["action"] == "add"
        )
        self.u.items.prefetch(self.u.conn, "key", [item for _, item in added])
        contents: list[str] = []
        for key, item in added:
            contents.append(item)
            contents.extend(self.tray_contents(item, key))
        self.u.items.prefetch(self.u.conn, "key", contents)
        return contents

    def tray_contents(self, tray: str, before: str) -> tuple[str, ...]:
        """The instruments of the tray's last assembly (not cancelled) begun before
        ``before``: what a tray holds when it goes into a load. Nothing for a non-tray."""
        row = self.u.items.get(self.u.conn, tray)
        if row is None or row["kind"] != Kind.TRAY:
            return ()
        session = self.assembly_before(tray, before)
        return tuple(self.members(session)) if session else ()

    def assembly_before(self, tray: str, before: str) -> str | None:
        """The tray's last assembly session opened before ``before``."""
        row = self.last_session_before(before, "tray", "key", tray)
        return str(row["session_id"]) if row else None

    def loads_of(self, item: str, after: str, before: str | None = None) -> list[tuple[str, str]]:
        """(add key, load) of every load the item was added to between ``after`` and ``before``,
        in event order."""
        t = self.u.t
        stored = self.u.conn.execute(
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
            for r in self.u.session_items.pending()
            if r["item"] == item
            and r["action"] == "add"
            and after < r["event_key"] < (before or "~")
            and self.u.cycles.get(self.u.conn, r["session_id"]) is not None
        }
        return sorted(found)


class _Implants:
    def __init__(self, reads: Reads) -> None:
        self._reads = reads

    def __contains__(self, item: object) -> bool:
        return isinstance(item, str) and self._reads.is_implant(item)
