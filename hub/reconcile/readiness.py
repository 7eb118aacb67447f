"""Case readiness: before a scheduled case starts, every tray on its preference card must
be sterile from a released load (docs/records.md, "Cases"). The edge: it reads the cases
about to start and their trays; ``rules.tray_not_ready`` decides."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.reconcile import rules
from hub.store.records import cycles, items, ref_cases, sessions


@dataclass(frozen=True)
class NotReady:
    case: str
    detail: str


def not_ready(conn: Connection, now: datetime, lead: timedelta) -> list[NotReady]:
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
            found.append(NotReady(case.code, detail))
    return found
