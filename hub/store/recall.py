"""The recall set of a failed biological indicator (DESIGN.md §6, domain.md "recall").

Every load from that sterilizer since the last load whose indicator passed, up to the
first later load whose indicator passed; the trays and instruments in those loads (a tray
brings the instruments of its last assembly begun before it went in, as containment in
docs/records.md); the cases they were used in after that load completed and before they
were next assembled or loaded; and where each item is now. A query over the records, so
it is always as complete as what has reached the hub.

Set-based: one statement finds the loads and everything in them with each item's next
reprocessing, one reads the uses of those items, whatever the number of loads and trays.
The same SQL runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import functools
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.domain.statuses import CycleStatus, SessionKind, SessionStatus
from hub.store.db import as_utc
from hub.store.records import cycles, items, session_items, sessions, usage_logs

_LAST = "~"  # sorts after every event key: an open upper bound


@functools.cache
def _statements() -> tuple[sa.Select[Any], sa.Select[Any], sa.Select[Any]]:
    """The failing load, everything the recall holds, and its loads; built once, with the
    sterilizer, the cycle number and the failing load's key as parameters. (Building these
    trees took about a quarter of a large recall's time when it was done per request.)"""
    c = cycles.c
    on_sterilizer = c.sterilizer == sa.bindparam("sterilizer")
    failing_key: sa.BindParameter[str] = sa.bindparam("failing")
    failing = sa.select(sa.func.max(c.started_key)).where(
        on_sterilizer, c.cycle_number == sa.bindparam("number")
    )
    passed = sa.and_(on_sterilizer, c.bi_result == "pass")
    after = sa.select(sa.func.max(c.started_key)).where(passed, c.started_key < failing_key)
    before = sa.select(sa.func.min(c.started_key)).where(passed, c.started_key > failing_key)
    loads = (
        sa.select(cycles)
        .where(
            on_sterilizer,
            c.started_key > sa.func.coalesce(after.scalar_subquery(), ""),
            c.started_key < sa.func.coalesce(before.scalar_subquery(), _LAST),
            c.status != CycleStatus.CANCELLED,
        )
        .cte("loads")
    )
    found = _contents(loads).cte("found")
    later = session_items.alias("later")
    # The item's next assembly or load after this one: a use after it is another load's.
    reprocessed = (
        sa.select(later.c.at)
        .where(
            later.c.item == found.c.item,
            later.c.event_key > found.c.event_key,
            later.c.action == "add",
        )
        .order_by(later.c.event_key)
        .limit(1)
        .correlate(found)
        .scalar_subquery()
    )
    held = (
        sa.select(
            found.c.item,
            found.c.load,
            found.c.via_tray,
            items.c.kind,
            items.c.status,
            items.c.location,
            loads.c.completed_at,
            reprocessed.label("reprocessed_at"),
        )
        .select_from(
            found.outerjoin(items, items.c.key == found.c.item).join(
                loads, loads.c.session_id == found.c.load
            )
        )
        .order_by(found.c.started_key, found.c.via_tray.is_not(None), found.c.item)
    )
    chosen = sa.select(
        loads.c.session_id,
        loads.c.cycle_number,
        loads.c.status,
        loads.c.bi_result,
        loads.c.started_at,
        loads.c.completed_at,
    ).order_by(loads.c.started_key)
    return failing, held, chosen


def recall_set(conn: Connection, label: str) -> dict[str, Any] | None:
    sterilizer, _, number = label.rpartition(".")
    find_failing, find_held, find_loads = _statements()
    failing = conn.execute(find_failing, {"sterilizer": sterilizer, "number": number}).scalar()
    if failing is None:
        return None
    params = {"sterilizer": sterilizer, "failing": failing}
    rows = conn.execute(find_held, params).all()
    chosen = conn.execute(find_loads, params).all()
    # Each item's windows: from its load's completion to its next reprocessing.
    windows: dict[str, list[tuple[Any, Any]]] = {}
    recalled: dict[str, tuple[Any, ...]] = {}  # an item in several loads: under its first
    for item, load, via_tray, kind, status, location, completed, reprocessed in rows:
        windows.setdefault(item, []).append((completed, reprocessed))
        if item not in recalled:
            recalled[item] = (item, load, via_tray, kind, status, location)
    u = usage_logs.c
    span = [u.used_at.is_not(None)]  # only the uses between the first start and last end
    begins = [begin for spans in windows.values() for begin, _ in spans]
    ends = [end for spans in windows.values() for _, end in spans]
    if begins and None not in begins:
        span.append(u.used_at >= min(begins))
    if ends and None not in ends:
        span.append(u.used_at < max(ends))
    uses = conn.execute(
        sa.select(u.case_ref, u.item, u.used_at)
        .where(u.item.in_(sorted(windows)), *span)
        .order_by(u.used_at, u.case_ref, u.item)
    ).all()
    cases = [
        {"case": case, "item": item, "used_at": as_utc(used)}
        for case, item, used in uses
        if any(
            (begin is None or used >= begin) and (end is None or used < end)
            for begin, end in windows[item]
        )
    ]
    fields = ("item", "load", "via_tray", "kind", "status", "location")
    return {
        "label": label,
        "sterilizer": sterilizer,
        "loads": [
            {
                "session_id": session_id,
                "cycle_number": cycle_number,
                "status": status,
                "bi_result": bi_result,
                "started_at": as_utc(started_at),
                "completed_at": as_utc(completed_at) if completed_at else None,
            }
            for session_id, cycle_number, status, bi_result, started_at, completed_at in chosen
        ],
        "items": [dict(zip(fields, recalled[item], strict=True)) for item in sorted(recalled)],
        "cases": cases,
    }


def load_contents(conn: Connection, session_id: str) -> list[dict[str, Any]]:
    """What one load held, in the order it went in: each item or tray added, then each
    tray's instruments (``via_tray``) as containment gives them, with the item's kind."""
    loads = sa.select(cycles).where(cycles.c.session_id == session_id).cte("loads")
    found = _contents(loads).cte("found")
    rows = conn.execute(
        sa.select(found.c.item, found.c.via_tray, items.c.kind)
        .select_from(found.outerjoin(items, items.c.key == found.c.item))
        .order_by(found.c.event_key, found.c.via_tray.is_not(None), found.c.item)
    )
    return [{"item": row.item, "kind": row.kind, "via_tray": row.via_tray} for row in rows]


def _contents(loads: sa.CTE) -> sa.CompoundSelect[Any]:
    """(item, load, its started_key, the key of the scan that put it or its tray in the
    load, via_tray) for everything the loads held: what was added to them, and the
    instruments of each tray's last assembly before it went in."""
    si = session_items.alias("direct")
    direct = (
        sa.select(
            si.c.item,
            si.c.session_id.label("load"),
            si.c.event_key,
            loads.c.started_key,
            sa.null().label("via_tray"),
        )
        .select_from(si.join(loads, loads.c.session_id == si.c.session_id))
        .where(si.c.action == "add")
        .cte("direct")
    )
    s = sessions.c
    assembly = (
        sa.select(s.session_id)
        .where(
            s.kind == SessionKind.TRAY,
            s.key == direct.c.item,
            s.status != SessionStatus.CANCELLED,
            s.opened_key < direct.c.event_key,
        )
        .order_by(s.opened_key.desc())
        .limit(1)
        .correlate(direct)
        .scalar_subquery()
    )
    inner = session_items.alias("inner")
    held = sa.select(
        inner.c.item,
        direct.c.load,
        direct.c.started_key,
        direct.c.event_key,
        direct.c.item.label("via_tray"),
    ).select_from(
        direct.join(inner, sa.and_(inner.c.session_id == assembly, inner.c.action == "add"))
    )
    return sa.union_all(
        sa.select(
            direct.c.item,
            direct.c.load,
            direct.c.started_key,
            direct.c.event_key,
            direct.c.via_tray,
        ),
        held,
    )
