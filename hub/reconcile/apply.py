"""The database edge of reconcile: read what the rules need, write what they decide.

Runs inside the ingest transaction, for each agent's newly contiguous seq range, in seq
order. A ``Reconciler`` writes to a ``Tables`` set, so ``rebuild`` can run the very same
code into fresh tables.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.reconcile import audit, rules
from hub.reconcile.rules import Change, Scan, SessionView, event_key, utc
from hub.store import records
from hub.store.db import insert_ignore
from hub.store.tables import alerts, scan_log
from protocol.barcodes import Decoded, decode


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

    @classmethod
    def live(cls) -> Tables:
        return cls(*records.RECORDS)


def scan_of(row: Any) -> Scan:
    """A scan_log row as the rules see it: the hub decodes raw itself (rule 2)."""
    payload = json.loads(row.payload)
    context = payload.get("context") or {}
    reading = payload.get("decoded") or {}
    at = utc(row.event_at or row.scanned_at)
    result = decode(row.raw)
    decoded = result if isinstance(result, Decoded) else None
    return Scan(
        key=event_key(at, row.agent_id, row.incarnation, row.seq),
        at=at,
        agent_id=row.agent_id,
        kind=decoded.kind.value if decoded else None,
        code=decoded.key if decoded else None,
        kept=reading.get("outcome") in (None, "kept"),
        action=context.get("action"),
        session_id=context.get("session_id"),
        session_kind=context.get("session_kind"),
        target=context.get("target"),
        condition=context.get("condition"),
        operator=context.get("operator"),
        station=context.get("station"),
    )


class Reconciler:
    def __init__(self, tables: Tables, live: bool = True) -> None:
        self.t = tables
        self._live = live  # a rebuild raises no alerts and writes no audit entries
        self._registered: dict[tuple[str, str], bool] = {}

    # -- entry points ------------------------------------------------------------------------

    def apply_range(
        self, conn: Connection, agent_id: str, incarnation: str, after: int, upto: int
    ) -> int:
        rows = conn.execute(
            sa.select(scan_log)
            .where(
                scan_log.c.agent_id == agent_id,
                scan_log.c.incarnation == incarnation,
                scan_log.c.seq > after,
                scan_log.c.seq <= upto,
            )
            .order_by(scan_log.c.seq)
        ).all()
        trail = audit.Trail(conn) if self._live else None
        for row in rows:
            self.apply(conn, scan_of(row), trail)
        if trail is not None:
            trail.flush()
        return len(rows)

    def apply(self, conn: Connection, scan: Scan, trail: audit.Trail | None = None) -> None:
        session = None
        if scan.session_id:
            # Only a closing scan needs what the session collected (a move's assets).
            session = self._session(conn, scan.session_id, members=scan.action == "close")
        for change in rules.decide(scan, session):
            entity, key = self._write(conn, scan, change)
            if trail is not None and not isinstance(change, rules.Alert):
                trail.add(scan, type(change).__name__, entity, key, change)

    # -- reads -----------------------------------------------------------------------------

    def _session(
        self, conn: Connection, session_id: str, members: bool = False
    ) -> SessionView | None:
        t = self.t
        row = conn.execute(
            sa.select(t.sessions).where(t.sessions.c.session_id == session_id)
        ).first()
        if row is None:
            return None
        collected: tuple[str, ...] = ()
        if members and row.kind == "move":
            collected = tuple(
                conn.execute(
                    sa.select(t.session_items.c.item)
                    .where(t.session_items.c.session_id == session_id)
                    .order_by(t.session_items.c.event_key)
                ).scalars()
            )
        return SessionView(row.session_id, row.kind, row.key, row.status, collected)

    def _is_registered(self, conn: Connection, table: str, code: str) -> bool:
        cached = self._registered.get((table, code))
        if cached is None:
            ref = records.REFERENCE[table]
            cached = (
                conn.execute(sa.select(ref.c.code).where(ref.c.code == code)).first() is not None
            )
            self._registered[(table, code)] = cached
        return cached

    # -- writes ----------------------------------------------------------------------------

    def _write(self, conn: Connection, scan: Scan, change: Change) -> tuple[str, str]:
        t = self.t
        if isinstance(change, rules.Alert):
            self._alert(conn, scan, change.severity, change.kind, change.detail)
            return "alert", change.kind
        if isinstance(change, rules.OpenSession):
            self._open(conn, scan, change)
            return change.kind, change.session_id
        if isinstance(change, rules.AddItem):
            self._add(conn, scan, change)
            return change.item_kind, change.item
        if isinstance(change, rules.CloseSession):
            conn.execute(
                t.sessions.update()
                .where(t.sessions.c.session_id == change.session_id)
                .values(status="closed", closed_at=scan.at, result=change.result)
            )
            if change.kind == "load":
                conn.execute(
                    t.cycles.update()
                    .where(t.cycles.c.session_id == change.session_id)
                    .values(completed_key=scan.key, completed_at=scan.at, result=change.result)
                )
                self._refold_cycle(conn, change.session_id)
            elif change.kind == "tray":
                self._close_tray(conn, scan, change.session_id)
            return change.kind, change.session_id
        if isinstance(change, rules.CancelSession):
            conn.execute(
                t.sessions.update()
                .where(t.sessions.c.session_id == change.session_id)
                .values(status="cancelled", closed_at=scan.at)
            )
            if change.kind == "load":
                self._refold_cycle(conn, change.session_id)
            elif change.kind == "tray":
                conn.execute(
                    t.tray_checklists.update()
                    .where(t.tray_checklists.c.session_id == change.session_id)
                    .values(status="cancelled", completed_at=scan.at)
                )
            return change.kind, change.session_id
        if isinstance(change, rules.CycleField):
            values = {change.name: change.value[:64]}
            conn.execute(
                t.cycles.update().where(t.cycles.c.session_id == change.session_id).values(values)
            )
            self._refold_cycle(conn, change.session_id)
            return "load", change.session_id
        if isinstance(change, rules.BiResult):
            self._bi(conn, scan, change)
            return "bi", change.label
        if isinstance(change, rules.MoveAssets):
            for asset in change.assets:
                self._move(conn, scan, asset, change.location)
            return "move", change.location
        self._equipment(conn, scan, change)
        return "asset", change.asset

    def _open(self, conn: Connection, scan: Scan, change: rules.OpenSession) -> None:
        t = self.t
        insert_ignore(
            conn,
            t.sessions,
            [
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
                }
            ],
        )
        if change.kind == "load":
            self._check_registered(conn, scan, "sterilizers", change.key)
            insert_ignore(
                conn,
                t.cycles,
                [
                    {
                        "session_id": change.session_id,
                        "sterilizer": change.key,
                        "operator": scan.operator,
                        "started_key": scan.key,
                        "started_at": scan.at,
                        "status": "open",
                        "item_count": 0,
                    }
                ],
            )
        elif change.kind == "tray":
            self._ensure_item(conn, scan, change.key, "tray")
            insert_ignore(
                conn,
                t.tray_checklists,
                [
                    {
                        "session_id": change.session_id,
                        "tray": change.key,
                        "operator": scan.operator,
                        "started_at": scan.at,
                        "status": "open",
                        "count": 0,
                        "missing": "{}",
                        "extra": "[]",
                    }
                ],
            )
        elif change.kind == "case":
            self._check_registered(conn, scan, "cases", change.key)

    def _add(self, conn: Connection, scan: Scan, change: rules.AddItem) -> None:
        t = self.t
        insert_ignore(
            conn,
            t.session_items,
            [
                {
                    "session_id": change.session_id,
                    "action": change.action,
                    "item": change.item,
                    "event_key": scan.key,
                    "at": scan.at,
                    "condition": change.condition,
                }
            ],
        )
        if change.item_kind == "asset":
            self._ensure_asset(conn, scan, change.item)
            return
        self._ensure_item(conn, scan, change.item, change.item_kind)
        if change.kind == "load":
            conn.execute(
                t.cycles.update()
                .where(t.cycles.c.session_id == change.session_id)
                .values(item_count=t.cycles.c.item_count + 1)
            )
            self._lww(conn, change.item, "last_cycle", change.session_id, scan.key)
            # A failed BI may have reached the hub before this item's scan did.
            bi = conn.execute(
                sa.select(t.cycles.c.bi_result, t.cycles.c.bi_key).where(
                    t.cycles.c.session_id == change.session_id
                )
            ).first()
            if bi is not None and bi.bi_result == "fail" and bi.bi_key:
                self._set_status(conn, change.item, "quarantined", None, bi.bi_key)
        elif change.kind == "tray":
            self._lww(conn, change.item, "tray", change.session_key, scan.key)
            self._set_status(conn, change.item, "in_service", scan.station, scan.key)
        elif change.kind == "case":
            self._use_or_return(conn, scan, change)

    def _use_or_return(self, conn: Connection, scan: Scan, change: rules.AddItem) -> None:
        t = self.t
        case = change.session_key
        location = self._case_room(conn, case) or scan.station
        status = rules.item_status_after(change.action, change.condition)
        self._set_status(conn, change.item, status, location, scan.key)
        key = (t.usage_logs.c.session_id == change.session_id) & (
            t.usage_logs.c.item == change.item
        )
        if change.action == "use":
            insert_ignore(
                conn,
                t.usage_logs,
                [
                    {
                        "session_id": change.session_id,
                        "item": change.item,
                        "case_ref": case,
                        "used_at": scan.at,
                        "operator": scan.operator,
                    }
                ],
            )
            self._check_use(conn, scan, change.item)
            return
        if change.condition:
            self._lww(conn, change.item, "condition", change.condition, scan.key)
        updated = conn.execute(
            t.usage_logs.update().where(key).values(returned_at=scan.at, condition=change.condition)
        ).rowcount
        if not updated:
            insert_ignore(
                conn,
                t.usage_logs,
                [
                    {
                        "session_id": change.session_id,
                        "item": change.item,
                        "case_ref": case,
                        "returned_at": scan.at,
                        "condition": change.condition,
                        "operator": scan.operator,
                    }
                ],
            )
            self._alert(
                conn,
                scan,
                "low",
                "return_without_use",
                f"{change.item} returned in case {case} with no use recorded",
            )

    def _check_use(self, conn: Connection, scan: Scan, item: str) -> None:
        """Rule 7: an item from a load that failed, is quarantined or was never released."""
        t = self.t
        last = conn.execute(
            sa.select(t.cycles.c.session_id, t.cycles.c.status, t.cycles.c.sterilizer)
            .select_from(
                t.session_items.join(
                    t.cycles, t.cycles.c.session_id == t.session_items.c.session_id
                )
            )
            .where(
                t.session_items.c.item == item,
                t.session_items.c.action == "add",
                t.session_items.c.event_key < scan.key,
            )
            .order_by(t.session_items.c.event_key.desc())
            .limit(1)
        ).first()
        status = conn.execute(sa.select(t.items.c.status).where(t.items.c.key == item)).first()
        if last is not None and last.status in rules.UNRELEASED:
            self._alert(
                conn,
                scan,
                "high",
                "unsafe_use",
                f"{item} used in the OR from load {last.session_id} on {last.sterilizer}, "
                f"which is {last.status}",
            )
        elif status is not None and status.status == "quarantined":
            self._alert(conn, scan, "high", "unsafe_use", f"{item} used while quarantined")

    def _close_tray(self, conn: Connection, scan: Scan, session_id: str) -> None:
        t = self.t
        row = conn.execute(
            sa.select(t.tray_checklists.c.tray).where(t.tray_checklists.c.session_id == session_id)
        ).one()
        scanned = list(
            conn.execute(
                sa.select(t.session_items.c.item).where(
                    t.session_items.c.session_id == session_id,
                    t.session_items.c.action == "add",
                )
            ).scalars()
        )
        recipe_row = conn.execute(
            sa.select(records.ref_trays.c.recipe).where(records.ref_trays.c.code == row.tray)
        ).first()
        recipe = rules.recipe_of(recipe_row.recipe) if recipe_row else {}
        ref = records.ref_instruments
        categories = {
            code: category or ""
            for code, category in conn.execute(
                sa.select(ref.c.code, ref.c.category).where(ref.c.code.in_(scanned))
            ).all()
        }
        result = rules.checklist(scanned, categories, recipe)
        status = "short" if result.short else "complete"
        conn.execute(
            t.tray_checklists.update()
            .where(t.tray_checklists.c.session_id == session_id)
            .values(
                status=status,
                completed_at=scan.at,
                count=result.count,
                missing=json.dumps(result.missing),
                extra=json.dumps(result.extra),
            )
        )
        self._set_status(conn, row.tray, "in_service", scan.station, scan.key)
        if result.short:
            missing = ", ".join(f"{n}× {code}" for code, n in result.missing.items())
            self._alert(
                conn, scan, "medium", "tray_short", f"tray {row.tray} closed short: {missing}"
            )

    def _bi(self, conn: Connection, scan: Scan, change: rules.BiResult) -> None:
        t = self.t
        insert_ignore(
            conn,
            t.bi_results,
            [
                {
                    "label": change.label,
                    "event_key": scan.key,
                    "result": change.result,
                    "at": scan.at,
                    "operator": scan.operator,
                }
            ],
        )
        sterilizer, _, number = change.label.rpartition(".")
        matched = list(
            conn.execute(
                sa.select(t.cycles.c.session_id).where(
                    t.cycles.c.sterilizer == sterilizer, t.cycles.c.cycle_number == number
                )
            ).scalars()
        )
        for session_id in matched:
            self._refold_cycle(conn, session_id)
        if change.result == "fail":
            self._alert(
                conn,
                scan,
                "high",
                "bi_failed",
                f"biological indicator failed for cycle {change.label}: recall every load on "
                f"{sterilizer} since its last passing indicator (GET /api/v1/recalls/"
                f"{change.label})",
            )

    def _refold_cycle(self, conn: Connection, session_id: str) -> None:
        t = self.t
        cycle = conn.execute(sa.select(t.cycles).where(t.cycles.c.session_id == session_id)).one()
        session = conn.execute(
            sa.select(t.sessions.c.status).where(t.sessions.c.session_id == session_id)
        ).scalar_one()
        bi = None
        if cycle.cycle_number:
            bi = conn.execute(
                sa.select(t.bi_results.c.result, t.bi_results.c.event_key)
                .where(t.bi_results.c.label == f"{cycle.sterilizer}.{cycle.cycle_number}")
                .order_by(t.bi_results.c.event_key.desc())
                .limit(1)
            ).first()
        status = rules.cycle_status(cycle.result, bi.result if bi else None, session == "cancelled")
        conn.execute(
            t.cycles.update()
            .where(t.cycles.c.session_id == session_id)
            .values(
                status=status,
                bi_result=bi.result if bi else None,
                bi_key=bi.event_key if bi else None,
            )
        )
        contents = list(
            conn.execute(
                sa.select(t.session_items.c.item).where(
                    t.session_items.c.session_id == session_id,
                    t.session_items.c.action == "add",
                )
            ).scalars()
        )
        for item in contents:
            if cycle.result is not None and cycle.completed_key:
                after = "sterile" if cycle.result == "pass" else "quarantined"
                self._set_status(conn, item, after, None, cycle.completed_key)
                if cycle.result == "pass":
                    conn.execute(
                        t.items.update()
                        .where(
                            (t.items.c.key == item)
                            & (
                                t.items.c.last_sterilized_at.is_(None)
                                | (t.items.c.last_sterilized_at < cycle.completed_at)
                            )
                        )
                        .values(last_sterilized_at=cycle.completed_at)
                    )
            if bi is not None and bi.result == "fail":
                self._set_status(conn, item, "quarantined", None, bi.event_key)

    def _move(self, conn: Connection, scan: Scan, asset: str, location: str) -> None:
        t = self.t
        self._ensure_asset(conn, scan, asset)
        self._check_registered(conn, scan, "locations", location)
        insert_ignore(
            conn,
            t.assignments,
            [
                {
                    "asset": asset,
                    "event_key": scan.key,
                    "location": location,
                    "started_at": scan.at,
                    "moved_by": scan.operator,
                }
            ],
        )
        starts = conn.execute(
            sa.select(t.assignments.c.event_key, t.assignments.c.started_at).where(
                t.assignments.c.asset == asset
            )
        ).all()
        ends = rules.assignment_ends([(k, utc(at)) for k, at in starts])
        for key, ended in ends.items():
            conn.execute(
                t.assignments.update()
                .where((t.assignments.c.asset == asset) & (t.assignments.c.event_key == key))
                .values(ended_at=ended)
            )
        conn.execute(
            t.assets.update()
            .where(
                (t.assets.c.key == asset)
                & (t.assets.c.location_key.is_(None) | (t.assets.c.location_key < scan.key))
            )
            .values(location=location, location_key=scan.key)
        )

    def _equipment(self, conn: Connection, scan: Scan, change: rules.EquipmentEvent) -> None:
        t = self.t
        self._ensure_asset(conn, scan, change.asset)
        insert_ignore(
            conn,
            t.equipment_events,
            [
                {
                    "asset": change.asset,
                    "event_key": scan.key,
                    "kind": change.kind,
                    "patient": change.patient,
                    "at": scan.at,
                }
            ],
        )
        events = conn.execute(
            sa.select(
                t.equipment_events.c.event_key,
                t.equipment_events.c.kind,
                t.equipment_events.c.patient,
                t.equipment_events.c.at,
            ).where(t.equipment_events.c.asset == change.asset)
        ).all()
        fold = rules.fold_equipment([(k, kind, p, utc(at)) for k, kind, p, at in events])
        conn.execute(t.equipment_logs.delete().where(t.equipment_logs.c.asset == change.asset))
        if fold.loans:
            conn.execute(
                t.equipment_logs.insert(),
                [
                    {
                        "asset": change.asset,
                        "loan_key": loan.loan_key,
                        "patient": loan.patient,
                        "loaned_at": loan.loaned_at,
                        "returned_at": loan.returned_at,
                        "cleaned_at": loan.cleaned_at,
                        "status": loan.status,
                    }
                    for loan in fold.loans
                ],
            )
        conn.execute(
            t.assets.update()
            .where(t.assets.c.key == change.asset)
            .values(status=fold.status, status_key=fold.status_key, patient=fold.patient)
        )

    # -- helpers ---------------------------------------------------------------------------

    def _ensure_item(self, conn: Connection, scan: Scan, code: str, kind: str) -> None:
        ref = "trays" if kind == "tray" else "instruments"
        values = {"kind": kind, "status": "in_service", "status_key": ""}
        self._first_sight(conn, scan, self.t.items, ref, code, kind, values)

    def _ensure_asset(self, conn: Connection, scan: Scan, code: str) -> None:
        self._first_sight(
            conn, scan, self.t.assets, "assets", code, "asset", {"status": "available"}
        )

    def _first_sight(
        self,
        conn: Connection,
        scan: Scan,
        table: sa.Table,
        ref: str,
        code: str,
        noun: str,
        values: dict[str, Any],
    ) -> None:
        """Create the record the first time a code is scanned, flagged if unregistered."""
        if conn.execute(sa.select(table.c.key).where(table.c.key == code)).first():
            return
        registered = self._is_registered(conn, ref, code)
        conn.execute(table.insert().values(key=code, registered=registered, **values))
        if not registered:
            self._alert(
                conn, scan, "medium", "unregistered_code", f"{noun} {code} is not registered"
            )

    def _check_registered(self, conn: Connection, scan: Scan, table: str, code: str) -> None:
        if not self._is_registered(conn, table, code):
            noun = table.removesuffix("s")
            self._alert(
                conn, scan, "medium", "unregistered_code", f"{noun} {code} is not registered"
            )

    def _case_room(self, conn: Connection, case: str) -> str | None:
        ref = records.ref_cases
        room: str | None = conn.execute(sa.select(ref.c.room).where(ref.c.code == case)).scalar()
        return room

    def _set_status(
        self, conn: Connection, item: str, status: str, location: str | None, key: str
    ) -> None:
        """Rule 4: the newest event sets the status; an older one arriving late does not."""
        items = self.t.items
        conn.execute(
            items.update()
            .where((items.c.key == item) & (items.c.status_key < key))
            .values(status=status, status_key=key)
        )
        if location is not None:
            self._lww(conn, item, "location", location, key)

    def _lww(self, conn: Connection, item: str, column: str, value: str, key: str) -> None:
        items = self.t.items
        key_column = items.c[f"{column}_key"]
        conn.execute(
            items.update()
            .where((items.c.key == item) & (key_column.is_(None) | (key_column < key)))
            .values({column: value, key_column.name: key})
        )

    def _alert(self, conn: Connection, scan: Scan, severity: str, kind: str, detail: str) -> None:
        if not self._live:
            return
        conn.execute(
            sa.insert(alerts).values(
                created_at=datetime.now(UTC),
                severity=severity,
                kind=kind,
                agent_id=scan.agent_id,
                detail=detail[:2000],
            )
        )
