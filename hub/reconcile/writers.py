"""What a pass writes: one handler per kind of change ``rules.decide`` returns, into the
pass's unit of work (unit.py), reading what it needs through the pass's reads (reads.py).
"""

from __future__ import annotations

import json
from typing import assert_never

from hub.domain import changes as ch
from hub.domain import containment, rules
from hub.domain.facts import CycleState, Scan
from hub.domain.folds import EquipmentFact, assignment_ends, fold_equipment, next_inspection
from hub.domain.statuses import ChecklistStatus, CycleStatus, ItemStatus, SessionKind, SessionStatus
from hub.reconcile.reads import Reads
from hub.reconcile.rows import Row
from hub.reconcile.unit import Unit


def _state(cycle: Row) -> CycleState:
    return CycleState(
        cycle["result"],
        cycle["completed_key"],
        cycle["completed_at"],
        bool(cycle["implant"]),
        bool(cycle["early_release_reason"]),
        cycle["bi_result"],
        cycle["bi_key"],
        cycle["physical_result"],
        cycle["physical_key"],
    )


class Writers:
    def __init__(self, unit: Unit, reads: Reads) -> None:
        self.u = unit
        self.r = reads

    def write(self, scan: Scan, change: ch.Change) -> tuple[str, str]:
        """One handler per kind of change; returns the entity it changed, for the audit."""
        match change:
            case ch.Alert():
                self.u.raise_alert(scan, change)
                return "alert", change.kind
            case ch.OpenSession():
                self.open(scan, change)
                return change.kind, change.session_id
            case ch.AddItem():
                self.add(scan, change)
                return change.item_kind, change.item
            case ch.CloseSession():
                self.close(scan, change)
                return change.kind, change.session_id
            case ch.CancelSession():
                self.cancel(scan, change)
                return change.kind, change.session_id
            case ch.CycleField():
                self.u.cycles.update(self.u.cycle(change.session_id), **{change.name: change.value})
                self.refold_cycle(change.session_id)
                return SessionKind.LOAD, change.session_id
            case ch.BiResult():
                self.bi(scan, change)
                return "bi", change.label
            case ch.ChecklistResult():
                self.checklist(scan, change)
                return SessionKind.TRAY, change.tray
            case ch.MoveAssets():
                self.u.assets.prefetch(self.u.conn, "key", change.assets)
                self.r.prefetch_last_assignments(change.assets)
                location = self.r.location(change.location)
                for asset in change.assets:
                    self.move(scan, asset, location)
                return SessionKind.MOVE, location
            case ch.Inspection():
                self.inspect(scan, change)
                return "inspection", change.asset
            case ch.EquipmentEvent():
                self.equipment(scan, change)
                return "asset", change.asset
            case _:
                assert_never(change)

    def open(self, scan: Scan, change: ch.OpenSession) -> None:
        self.u.sessions.insert(
            self.u.conn,
            {
                "session_id": change.session_id,
                "kind": change.kind,
                "key": change.key,
                "agent_id": scan.agent_id,
                "station": scan.station,
                "operator": scan.operator,
                "opened_key": scan.key,
                "opened_at": scan.at,
                "status": SessionStatus.OPEN,
            },
        )
        if change.kind == SessionKind.LOAD:
            self.u.check_registered(scan, "sterilizers", change.key)
            self.u.cycles.insert(
                self.u.conn,
                {
                    "session_id": change.session_id,
                    "sterilizer": change.key,
                    "operator": scan.operator,
                    "started_key": scan.key,
                    "started_at": scan.at,
                    "status": CycleStatus.OPEN,
                    "item_count": 0,
                    "implant": False,
                },
            )
        elif change.kind == SessionKind.TRAY:
            self.u.ensure_item(scan, change.key, "tray")
            self.u.checklists.insert(
                self.u.conn,
                {
                    "session_id": change.session_id,
                    "tray": change.key,
                    "operator": scan.operator,
                    "started_at": scan.at,
                    "status": ChecklistStatus.OPEN,
                    "count": 0,
                    "missing": "{}",
                    "extra": "[]",
                },
            )
        elif change.kind == SessionKind.CASE:
            self.u.check_registered(scan, "cases", change.key)

    def add(self, scan: Scan, change: ch.AddItem) -> None:
        added = self.u.session_items.insert(
            self.u.conn,
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
            self.u.ensure_asset(scan, change.item)
            return
        self.u.ensure_item(scan, change.item, change.item_kind)
        if change.kind == SessionKind.LOAD:
            cycle = self.u.cycle(change.session_id)
            if added:
                self.u.cycles.update(cycle, item_count=cycle["item_count"] + 1)
            inside = self.r.tray_contents(change.item, scan.key)
            self.u.items.prefetch(self.u.conn, "key", inside)
            self.u.reference["instruments"].prefetch(self.u.conn, "code", inside)
            carried = containment.into_load(change.item, inside, self.r.implants)
            if carried.implant:
                self.u.cycles.update(cycle, implant=True)
            for item in carried.items:
                self.u.lww(item, "last_cycle", change.session_id, scan.key)
                self.u.set_status(item, ItemStatus.PROCESSING, None, scan.key)
                # A failed BI may have reached the hub before this item's scan did.
                self.take_outcome(item, cycle)
        elif change.kind == SessionKind.TRAY:
            self.u.lww(change.item, "tray", change.session_key, scan.key)
            self.u.set_status(change.item, ItemStatus.IN_SERVICE, scan.station, scan.key)
            self.join_later_loads(change)
        elif change.kind == SessionKind.CASE:
            self.use_or_return(scan, change)

    def close(self, scan: Scan, change: ch.CloseSession) -> None:
        session = self.u.sessions.get(self.u.conn, change.session_id)
        assert session is not None  # rules.decide closes only a session it was shown
        self.u.sessions.update(
            session, status=SessionStatus.CLOSED, closed_at=scan.at, result=change.result
        )
        if change.kind == SessionKind.LOAD:
            self.u.cycles.update(
                self.u.cycle(change.session_id),
                completed_key=scan.key,
                completed_at=scan.at,
                result=change.result,
                released_by=rules.released_by(change.result, scan.operator),
            )
            self.refold_cycle(change.session_id)

    def cancel(self, scan: Scan, change: ch.CancelSession) -> None:
        session = self.u.sessions.get(self.u.conn, change.session_id)
        assert session is not None
        self.u.sessions.update(session, status=SessionStatus.CANCELLED, closed_at=scan.at)
        self.u.cancelled.add(change.session_id)
        if change.kind == SessionKind.LOAD:
            self.refold_cycle(change.session_id)
        elif change.kind == SessionKind.TRAY:
            checklist = self.u.checklists.get(self.u.conn, change.session_id)
            if checklist is not None:
                self.u.checklists.update(
                    checklist, status=ChecklistStatus.CANCELLED, completed_at=scan.at
                )

    def use_or_return(self, scan: Scan, change: ch.AddItem) -> None:
        case = change.session_key
        registered = self.u.registered("cases", case)
        location = containment.where_used(registered["room"] if registered else None, scan.station)
        status = rules.item_status_after(change.action, change.condition)
        if change.action == "use":
            self.u.set_status(change.item, status, location, scan.key)
            self.u.usage.insert(
                self.u.conn,
                {
                    "session_id": change.session_id,
                    "item": change.item,
                    "case_ref": case,
                    "used_at": scan.at,
                    "operator": scan.operator,
                },
            )
            return
        self.u.set_status(change.item, status, location, scan.key)
        if change.condition:
            self.u.lww(change.item, "condition", change.condition, scan.key)
        usage = self.u.usage.get(self.u.conn, change.session_id, change.item)
        if usage is not None:
            self.u.usage.update(usage, returned_at=scan.at, condition=change.condition)
            return
        self.u.usage.insert(
            self.u.conn,
            {
                "session_id": change.session_id,
                "item": change.item,
                "case_ref": case,
                "returned_at": scan.at,
                "condition": change.condition,
                "operator": scan.operator,
            },
        )

    def checklist(self, scan: Scan, change: ch.ChecklistResult) -> None:
        checklist = self.u.checklists.get(self.u.conn, change.session_id)
        assert checklist is not None  # opened with its session
        self.u.checklists.update(
            checklist,
            status=ChecklistStatus.SHORT if change.short else ChecklistStatus.COMPLETE,
            completed_at=scan.at,
            count=change.count,
            missing=json.dumps(change.missing),
            extra=json.dumps(change.extra),
        )
        self.u.set_status(change.tray, ItemStatus.IN_SERVICE, scan.station, scan.key)

    def bi(self, scan: Scan, change: ch.BiResult) -> None:
        self.u.bi_results.insert(
            self.u.conn,
            {
                "label": change.label,
                "event_key": scan.key,
                "result": change.result,
                "at": scan.at,
                "operator": scan.operator,
            },
        )
        sterilizer, _, number = change.label.rpartition(".")
        for session_id in self.r.cycles_labelled(sterilizer, number):
            self.refold_cycle(session_id)

    def refold_cycle(self, session_id: str) -> None:
        cycle = self.u.cycle(session_id)
        session = self.u.sessions.get(self.u.conn, session_id)
        bi = None
        if cycle["cycle_number"]:
            label = f"{cycle['sterilizer']}.{cycle['cycle_number']}"
            found = self.u.bi_results.where(self.u.conn, "label", label)
            bi = containment.standing_bi((r["event_key"], r["result"]) for r in found)
        cancelled = session is not None and session["status"] == SessionStatus.CANCELLED
        self.u.cycles.update(
            cycle,
            status=rules.cycle_status(
                cycle["result"],
                bi[0] if bi else None,
                cancelled,
                cycle["implant"],
                bool(cycle["early_release_reason"]),
                cycle["physical_result"],
            ),
            bi_result=bi[0] if bi else None,
            bi_key=bi[1] if bi else None,
        )
        if containment.has_outcome(_state(cycle)):
            for item in self.r.load_contents(session_id):
                self.take_outcome(item, cycle)

    def take_outcome(self, item: str, cycle: Row) -> None:
        """An item in a load, itself or inside a tray, takes the load's outcome
        (``containment.contents_outcome``). Each status is the fact of the event that decided it
        (the completion, a failed BI), set again when more is known, so a use since stands."""
        for status, key in containment.contents_outcome(_state(cycle)):
            self.u.set_status(item, status, None, key)
        row = self.u.items.get(self.u.conn, item)
        if cycle["result"] == "pass" and row is not None:
            last = row["last_sterilized_at"]
            if last is None or last < cycle["completed_at"]:
                self.u.items.update(row, last_sterilized_at=cycle["completed_at"])

    def join_later_loads(self, change: ch.AddItem) -> None:
        """An assembly that reaches the hub after its tray went into a load: the item
        joins each later load that this assembly was the tray's last before."""
        tray = self.u.items.get(self.u.conn, change.session_key)
        session = self.u.sessions.get(self.u.conn, change.session_id)
        if tray is None or session is None:
            return
        newest = tray["last_cycle_key"]
        if newest is None or newest < session["opened_key"]:
            return  # the usual order: the tray has not been loaded since; no query
        tray_key = change.session_key
        since = [
            (key, load, self.r.assembly_before(tray_key, key))
            for key, load in self.r.loads_of(tray_key, session["opened_key"])
        ]
        implant = containment.into_load(change.item, (), self.r.implants).implant
        for key, load in containment.late_assembly_loads(change.session_id, since):
            self.u.lww(change.item, "last_cycle", load, key)
            self.u.set_status(change.item, ItemStatus.PROCESSING, None, key)
            cycle = self.u.cycle(load)
            if implant and not cycle["implant"]:
                self.u.cycles.update(cycle, implant=True)
                self.refold_cycle(load)  # the whole load is held now, not just this item
            else:
                self.take_outcome(change.item, cycle)

    def move(self, scan: Scan, asset: str, location: str) -> None:
        self.u.ensure_asset(scan, asset)
        self.u.check_registered(scan, "locations", location)
        self.r.prefetch_last_assignments([asset])
        newest = self.u.last_assignment[asset]
        if newest is None or newest < scan.key:
            self.u.assignments.absent((asset, scan.key))  # nothing stored is newer: no query
        self.u.assignments.insert(
            self.u.conn,
            {
                "asset": asset,
                "event_key": scan.key,
                "location": location,
                "started_at": scan.at,
                "moved_by": scan.operator,
            },
        )
        history = self.r.assignments_from(asset, scan.key)
        ends = assignment_ends([(r["event_key"], r["started_at"]) for r in history])
        for row in history:
            self.u.assignments.update(row, ended_at=ends[row["event_key"]])
        record = self.u.assets.get(self.u.conn, asset)
        assert record is not None  # ensured above
        if record["location_key"] is None or record["location_key"] < scan.key:
            self.u.assets.update(record, location=location, location_key=scan.key)

    def equipment(self, scan: Scan, change: ch.EquipmentEvent) -> None:
        self.u.ensure_asset(scan, change.asset)
        self.u.equipment_events.insert(
            self.u.conn,
            {
                "asset": change.asset,
                "event_key": scan.key,
                "kind": change.kind,
                "patient": change.patient,
                "at": scan.at,
                "by": scan.operator,
            },
        )
        events = self.u.equipment_events.where(self.u.conn, "asset", change.asset)
        fold = fold_equipment(
            [
                EquipmentFact(r["event_key"], r["kind"], r["patient"], r["at"], r["by"])
                for r in events
            ],
            self.r.asset_days(change.asset, "loan_period_days"),
        )
        self.u.loans[change.asset] = [
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
        record = self.u.assets.get(self.u.conn, change.asset)
        assert record is not None  # ensured above
        self.u.assets.update(
            record, status=fold.status, status_key=fold.status_key, patient=fold.patient
        )

    def inspect(self, scan: Scan, change: ch.Inspection) -> None:
        self.u.ensure_asset(scan, change.asset)
        due = next_inspection(scan.at, self.r.asset_days(change.asset, "inspection_interval_days"))
        self.u.inspections.insert(
            self.u.conn,
            {
                "asset": change.asset,
                "event_key": scan.key,
                "result": change.result,
                "at": scan.at,
                "inspector": scan.operator,
                "next_due": due,
            },
        )
        record = self.u.assets.get(self.u.conn, change.asset)
        assert record is not None  # ensured above
        if record["inspection_key"] is None or record["inspection_key"] < scan.key:
            self.u.assets.update(
                record,
                inspected_at=scan.at,
                inspection_key=scan.key,
                inspection_result=change.result,
                inspection_due=due,
            )
