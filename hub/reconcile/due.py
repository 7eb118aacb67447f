"""What falls due with time, checked by the writer every 30 s (docs/records.md):
- case readiness: before a scheduled case starts, every tray on its preference card must
  be sterile from a released load (``rules.tray_not_ready`` decides);
- inspections: an asset whose next inspection is past due;
- loans: equipment lent past its due-back time and not yet returned.
The edge only: it reads the records these checks need."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.reconcile import rules
from hub.store.records import assets, cycles, equipment_logs, items, ref_cases, sessions


@dataclass(frozen=True)
class Due:
    key: str  # what it is about: a case, or an asset and its due date
    detail: str


def not_ready(conn: Connection, now: datetime, lead: timedelta) -> list[Due]:
    """Cases starting within ``lead`` of ``now``, not yet begun, with a tray not ready."""
    begun = sa.select(sessions.c.key).where(sessions.c.kind == "case")
    upcoming = conn.execute(
        sa.select(ref_cases).where(
            ref_cases.c.scheduled_start >= now,
            ref_cases.c.scheduled_start <= now + lead,
            ref_cases.c.trays.is_not(None),
            ref_cases.c.code.not_in(begun),
        )
    ).all()
    needed = {case.code: json.loads(case.trays) for case in upcoming}
    trays = {tray for wanted in needed.values() for tray in wanted}
    state = {
        row.key: (row.status, row.load_status)
        for row in conn.execute(
            sa.select(items.c.key, items.c.status, cycles.c.status.label("load_status"))
            .select_from(items.outerjoin(cycles, cycles.c.session_id == items.c.last_cycle))
            .where(items.c.key.in_(trays))
        )
    }
    found = []
    for case in upcoming:
        reasons = [
            f"tray {tray} {reason}"
            for tray in needed[case.code]
            if (reason := rules.tray_not_ready(*state.get(tray, (None, None)))) is not None
        ]
        if reasons:
            where = f" in {case.room}" if case.room else ""
            start = case.scheduled_start
            detail = f"case {case.code} at {start:%Y-%m-%d %H:%M}{where}: " + "; ".join(reasons)
            found.append(Due(case.code, detail))
    return found


def overdue_inspections(conn: Connection, now: datetime) -> list[Due]:
    """Assets whose newest inspection set a due date that has passed."""
    rows = conn.execute(
        sa.select(assets.c.key, assets.c.inspection_due, assets.c.location).where(
            assets.c.inspection_due < now, assets.c.status != "retired"
        )
    ).all()
    return [
        Due(
            f"{row.key}@{row.inspection_due}",
            f"{row.key} was due for inspection on {row.inspection_due:%Y-%m-%d}"
            + (f"; last seen at {row.location}" if row.location else ""),
        )
        for row in rows
    ]


def overdue_loans(conn: Connection, now: datetime) -> list[Due]:
    """Loans still out past their due-back time."""
    logs = equipment_logs.c
    rows = conn.execute(
        sa.select(logs.asset, logs.loan_key, logs.patient, logs.due_back, logs.lent_by).where(
            logs.status == "on_loan", logs.due_back < now
        )
    ).all()
    return [
        Due(
            f"{row.asset}@{row.loan_key}",
            f"{row.asset}, lent to {row.patient or 'a patient'} by {row.lent_by or 'no badge'}, "
            f"was due back on {row.due_back:%Y-%m-%d %H:%M}",
        )
        for row in rows
    ]
