"""The recall set of a failed biological indicator (DESIGN.md §6, domain.md "recall").

Every load from that sterilizer since the last load whose indicator passed, up to the
first later load whose indicator passed; the trays and instruments in those loads (a
tray brings the instruments of its last checklist before the load); the cases they were
used in after the load; and where each item is now. A query over the records, so it is
always as complete as what has reached the hub.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.store.records import cycles, items, session_items, tray_checklists, usage_logs


def recall_set(conn: Connection, label: str) -> dict[str, Any] | None:
    sterilizer, _, number = label.rpartition(".")
    loads = conn.execute(
        sa.select(cycles).where(cycles.c.sterilizer == sterilizer).order_by(cycles.c.started_key)
    ).all()
    failing = [i for i, c in enumerate(loads) if c.cycle_number == number]
    if not failing:
        return None
    at = failing[-1]
    first = at
    while first > 0 and loads[first - 1].bi_result != "pass":
        first -= 1
    last = at
    while last + 1 < len(loads) and loads[last + 1].bi_result != "pass":
        last += 1
    chosen = [c for c in loads[first : last + 1] if c.status != "cancelled"]
    found: dict[str, dict[str, Any]] = {}
    for load in chosen:
        contents = conn.execute(
            sa.select(session_items.c.item).where(
                session_items.c.session_id == load.session_id, session_items.c.action == "add"
            )
        ).scalars()
        for item in contents:
            found.setdefault(item, {"item": item, "load": load.session_id, "via_tray": None})
            for inner in _tray_contents(conn, item, load.started_at):
                found.setdefault(inner, {"item": inner, "load": load.session_id, "via_tray": item})
    keys = list(found)
    for row in conn.execute(sa.select(items).where(items.c.key.in_(keys))).all():
        found[row.key].update(kind=row.kind, status=row.status, location=row.location)
    cases = conn.execute(
        sa.select(usage_logs.c.case_ref, usage_logs.c.item, usage_logs.c.used_at)
        .where(usage_logs.c.item.in_(keys), usage_logs.c.used_at.is_not(None))
        .order_by(usage_logs.c.used_at)
    ).all()
    completed = {c.session_id: c.completed_at for c in chosen}
    return {
        "label": label,
        "sterilizer": sterilizer,
        "loads": [
            {
                "session_id": c.session_id,
                "cycle_number": c.cycle_number,
                "status": c.status,
                "bi_result": c.bi_result,
                "started_at": c.started_at,
                "completed_at": c.completed_at,
            }
            for c in chosen
        ],
        "items": sorted(found.values(), key=lambda i: i["item"]),
        "cases": [
            {"case": case, "item": item, "used_at": used}
            for case, item, used in cases
            if completed.get(found[item]["load"]) is None or used >= completed[found[item]["load"]]
        ],
    }


def _tray_contents(conn: Connection, tray: str, before: Any) -> list[str]:
    checklist = conn.execute(
        sa.select(tray_checklists.c.session_id)
        .where(tray_checklists.c.tray == tray, tray_checklists.c.started_at <= before)
        .order_by(tray_checklists.c.started_at.desc())
        .limit(1)
    ).scalar()
    if checklist is None:
        return []
    return list(
        conn.execute(
            sa.select(session_items.c.item).where(
                session_items.c.session_id == checklist, session_items.c.action == "add"
            )
        ).scalars()
    )
