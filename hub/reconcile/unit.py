"""One projection pass's unit of work: the records it touches, held in memory, and what
it writes back in bulk at the end (rows.py says why), with its alerts and audit entries.

The pass's reads (reads.py) and writers (writers.py) share it; the last-writer-wins rule
on an item's fields and raising an alert once per scan live here, said once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.domain import changes as ch
from hub.domain import containment, rules
from hub.domain.facts import Policy, Scan
from hub.domain.statuses import AssetStatus, ItemStatus
from hub.reconcile import audit
from hub.reconcile.rows import Row, Rows
from hub.store import records
from hub.store.alerts import Alerts
from protocol.barcodes import Kind


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
    captures: sa.Table
    readings: sa.Table

    @classmethod
    def live(cls) -> Tables:
        return cls(*records.RECORDS)


class Unit:
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
        self.captures = Rows(tables.captures)
        self.readings = Rows(tables.readings)
        self.cancelled: set[str] = set()  # sessions this pass cancelled
        self.last_assignment: dict[str, str | None] = {}  # newest stored key per asset
        self.loans: dict[str, list[Row]] = {}  # each asset's equipment log, folded again
        self.alerts = Alerts(self.now)
        self.glns: dict[str, str | None] = {}  # GLN: the location registered with it
        self.trail = audit.Trail(conn) if live else None

    def registered(self, ref: str, code: str) -> Row | None:
        """The reference row of a code, or None when nobody registered it."""
        return self.reference[ref].get(self.conn, code)

    def cycle(self, session_id: str) -> Row:
        cycle = self.cycles.get(self.conn, session_id)
        assert cycle is not None  # every load session gets its cycle when it opens
        return cycle

    def set_status(self, item: str, status: str, location: str | None, key: str) -> None:
        """Rule 4 (``containment.supersedes``): the newest event, or the same one decided again."""
        row = self.items.get(self.conn, item)
        if row is None:
            return
        if containment.supersedes(row["status_key"], key, again=True):
            self.items.update(row, status=status, status_key=key)
        if location is not None:
            self.lww(item, "location", location, key)

    def lww(self, item: str, column: str, value: str, key: str) -> None:
        row = self.items.get(self.conn, item)
        if row is None:
            return
        if containment.supersedes(row[f"{column}_key"], key):
            self.items.update(row, **{column: value, f"{column}_key": key})

    def raise_alert(self, scan: Scan, alert: ch.Alert) -> None:
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

    def first_sight(
        self, scan: Scan, rows: Rows, ref: str, code: str, noun: str, values: dict[str, Any]
    ) -> None:
        """Create the record the first time a code is scanned, flagged if unregistered."""
        if rows.get(self.conn, code) is not None:
            return
        registered = self.registered(ref, code) is not None
        rows.insert(self.conn, {"key": code, "registered": registered, **values})
        if not registered:
            self.raise_alert(scan, rules.unregistered(noun, code))

    def ensure_item(self, scan: Scan, code: str, kind: str) -> None:
        ref = "trays" if kind == Kind.TRAY else "instruments"
        values = {"kind": kind, "status": ItemStatus.IN_SERVICE, "status_key": ""}
        self.first_sight(scan, self.items, ref, code, kind, values)

    def ensure_asset(self, scan: Scan, code: str) -> None:
        self.first_sight(
            scan, self.assets, "assets", code, "asset", {"status": AssetStatus.AVAILABLE}
        )

    def check_registered(self, scan: Scan, ref: str, code: str) -> None:
        """A code with no record of its own (a sterilizer, case or location)."""
        if self.registered(ref, code) is None:
            self.raise_alert(scan, rules.unregistered(ref.removesuffix("s"), code))

    def flush(self) -> None:
        """Write back every changed row, the folded loans, the alerts and the audit."""
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
            self.captures,
            self.readings,
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
