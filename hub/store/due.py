"""What falls due with time (docs/records.md), read from the records. The writer checks it
every 30 s and alerts (hub/ingest/worker.py); the API answers the same questions
(``/api/v1/readiness``, ``/api/v1/overdue``), so both say the same thing.
- case readiness: before a scheduled case starts, every tray on its preference card must
  be sterile from a released load (``rules.tray_not_ready`` decides);
- inspections: an asset whose next inspection is past due;
- loans: equipment lent past its due-back time and not yet returned.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.domain import rules
from hub.domain.statuses import AssetStatus, SessionKind
from hub.store.db import as_utc
from hub.store.records import assets, cycles, equipment_logs, items, ref_cases, sessions


@dataclass(frozen=True)
class Due:
    key: str  # what it is about: a case, or an asset and its due date
    detail: str  # for an alert, in words
    facts: dict[str, Any]  # for the API


def readiness(conn: Connection, now: datetime, lead: timedelta) -> list[dict[str, Any]]:
    """Cases scheduled from ``now`` to ``now + lead`` and not yet begun, in start order, each
    tray of its preference card with its status, its load's status and why it is not ready."""
    begun = sa.select(sessions.c.key).where(sessions.c.kind == SessionKind.CASE)
    upcoming = conn.execute(
        sa.select(ref_cases)
        .where(
            ref_cases.c.scheduled_start >= now,
            ref_cases.c.scheduled_start <= now + lead,
            ref_cases.c.code.not_in(begun),
        )
        .order_by(ref_cases.c.scheduled_start, ref_cases.c.code)
    ).all()
    needed = {case.code: json.loads(case.trays) if case.trays else [] for case in upcoming}
    wanted = {tray for trays in needed.values() for tray in trays}
    state = {
        row.key: (row.status, row.load_status)
        for row in conn.execute(
            sa.select(items.c.key, items.c.status, cycles.c.status.label("load_status"))
            .select_from(items.outerjoin(cycles, cycles.c.session_id == items.c.last_cycle))
            .where(items.c.key.in_(wanted))
        )
    }
    found = []
    for case in upcoming:
        trays = []
        for tray in needed[case.code]:
            status, load_status = state.get(tray, (None, None))
            reason = rules.tray_not_ready(status, load_status)
            trays.append(
                {"tray": tray, "status": status, "load_status": load_status, "not_ready": reason}
            )
        found.append(
            {
                "case": case.code,
                "room": case.room,
                "procedure": case.procedure,
                "scheduled_start": as_utc(case.scheduled_start),
                "ready": all(t["not_ready"] is None for t in trays),
                "trays": trays,
            }
        )
    return found


def not_ready(conn: Connection, now: datetime, lead: timedelta) -> list[Due]:
    """Cases starting within ``lead`` of ``now``, not yet begun, with a tray not ready."""
    found = []
    for case in readiness(conn, now, lead):
        if case["ready"]:
            continue
        reasons = [f"tray {t['tray']} {t['not_ready']}" for t in case["trays"] if t["not_ready"]]
        where = f" in {case['room']}" if case["room"] else ""
        start = case["scheduled_start"]
        detail = f"case {case['case']} at {start:%Y-%m-%d %H:%M}{where}: " + "; ".join(reasons)
        found.append(Due(case["case"], detail, case))
    return found


def overdue_inspections(conn: Connection, now: datetime) -> list[Due]:
    """Assets whose newest inspection set a due date that has passed, oldest due first."""
    rows = conn.execute(
        sa.select(assets.c.key, assets.c.inspection_due, assets.c.location)
        .where(assets.c.inspection_due < now, assets.c.status != AssetStatus.RETIRED)
        .order_by(assets.c.inspection_due, assets.c.key)
    ).all()
    return [
        Due(
            f"{row.key}@{row.inspection_due}",
            f"{row.key} was due for inspection on {row.inspection_due:%Y-%m-%d}"
            + (f"; last seen at {row.location}" if row.location else ""),
            {"asset": row.key, "due": as_utc(row.inspection_due), "location": row.location},
        )
        for row in rows
    ]


def overdue_loans(conn: Connection, now: datetime) -> list[Due]:
    """Loans still out past their due-back time, oldest due first."""
    logs = equipment_logs.c
    rows = conn.execute(
        sa.select(logs.asset, logs.loan_key, logs.patient, logs.due_back, logs.lent_by)
        .where(logs.status == AssetStatus.ON_LOAN, logs.due_back < now)
        .order_by(logs.due_back, logs.asset)
    ).all()
    return [
        Due(
            f"{row.asset}@{row.loan_key}",
            f"{row.asset}, lent to {row.patient or 'a patient'} by {row.lent_by or 'no badge'}, "
            f"was due back on {row.due_back:%Y-%m-%d %H:%M}",
            {
                "asset": row.asset,
                "due": as_utc(row.due_back),
                "patient": row.patient,
                "lent_by": row.lent_by,
            },
        )
        for row in rows
    ]


def begun(conn: Connection, cases: list[str]) -> set[str]:
    """Which of ``cases`` a point-of-use station has opened."""
    s = sessions.c
    query = sa.select(s.key).where(s.kind == SessionKind.CASE, s.key.in_(cases))
    return set(conn.execute(query).scalars()) if cases else set()
