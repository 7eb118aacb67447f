"""What the dashboard's screens read (hub/web/pages.py), each in one query module so no
page runs SQL of its own: alerts and dead letters newest first, a day's loads, the tray
board with each tray's stage, cases with what they used and from which load, assets."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.domain import stages
from hub.domain.statuses import ChecklistStatus, SessionKind, SessionStatus
from hub.store.db import as_utc, utc_values
from hub.store.records import (
    assets,
    assignments,
    cycles,
    items,
    session_items,
    sessions,
    tray_checklists,
    usage_logs,
)
from hub.store.tables import agent_events, alerts, dead_letters
from protocol.barcodes import Kind

PAGE_ROWS = 200


@dataclass(frozen=True)
class AlertFilter:
    """The alerts page's filter, written once: the page and its live part both use it."""

    severity: str = ""
    kind: str = ""
    open_only: bool = False

    def apply(self, query: sa.Select[Any]) -> sa.Select[Any]:
        a = alerts.c
        if self.severity:
            query = query.where(a.severity == self.severity)
        if self.kind:
            query = query.where(a.kind == self.kind)
        if self.open_only:
            query = query.where(a.acknowledged_at.is_(None), a.resolved_at.is_(None))
        return query


def newest_alerts(conn: Connection, where: AlertFilter) -> list[dict[str, Any]]:
    query = where.apply(sa.select(alerts).order_by(alerts.c.id.desc()).limit(PAGE_ROWS))
    return [dict(row._mapping) for row in conn.execute(query)]


def alert_kinds(conn: Connection) -> list[str]:
    return list(conn.execute(sa.select(alerts.c.kind).distinct().order_by(alerts.c.kind)).scalars())


def newest_dead_letters(conn: Connection) -> list[dict[str, Any]]:
    query = sa.select(dead_letters).order_by(dead_letters.c.id.desc()).limit(PAGE_ROWS)
    return [dict(row._mapping) for row in conn.execute(query)]


def loads_between(
    conn: Connection, start: datetime, end: datetime, sterilizer: str | None
) -> list[dict[str, Any]]:
    """Loads started in [start, end), newest first, of one sterilizer or all."""
    c = cycles.c
    query = (
        sa.select(cycles)
        .where(c.started_at >= start, c.started_at < end)
        .order_by(c.started_key.desc())
    )
    if sterilizer:
        query = query.where(c.sterilizer == sterilizer)
    return [dict(row._mapping) for row in conn.execute(query)]


def sterilizers(conn: Connection, registered: list[str]) -> list[str]:
    """Every sterilizer registered or that ran a load, in code order."""
    ran = conn.execute(sa.select(cycles.c.sterilizer).distinct()).scalars()
    return sorted({*registered, *ran})


def tray_board(conn: Connection, catalogue: tuple[str, ...]) -> list[dict[str, Any]]:
    """Every tray in the catalogue, and any scanned that nobody registered: its stage and
    since when (hub/domain/stages.py), where it is, its last load, and whether its newest
    assembly closed short."""
    i, ch, s, si = items.c, tray_checklists.c, sessions.c, session_items.c
    rows: dict[str, Any] = {
        row.key: row
        for row in conn.execute(sa.select(items).where(i.kind == Kind.TRAY).order_by(i.key))
    }
    keys = sorted({*catalogue, *rows})
    newest_check: dict[str, Any] = {}
    newest_closed: dict[str, Any] = {}
    for row in conn.execute(
        sa.select(ch.tray, ch.status, ch.started_at, ch.completed_at, ch.missing)
        .where(ch.tray.in_(keys), ch.status != ChecklistStatus.CANCELLED)
        .order_by(ch.tray, ch.started_at)
    ):
        newest_check[row.tray] = row  # ordered by start: the newest stays
        if row.status != ChecklistStatus.OPEN:
            newest_closed[row.tray] = row
    in_open_load = {
        item: at
        for item, at in conn.execute(
            sa.select(si.item, si.at)
            .select_from(session_items.join(sessions, s.session_id == si.session_id))
            .where(
                si.item.in_(keys),
                si.action == "add",
                s.kind == SessionKind.LOAD,
                s.status == SessionStatus.OPEN,
            )
        )
    }
    board = []
    for key in keys:
        tray: Any = rows.get(key)
        check: Any = newest_check.get(key)
        closed: Any = newest_closed.get(key)
        stage = stages.tray_stage(
            status=tray.status if tray else None,
            status_at=stages.event_time(tray.status_key) if tray else None,
            assembled_at=as_utc(closed.completed_at) if closed is not None else None,
            assembling_since=as_utc(check.started_at)
            if check is not None and check.status == ChecklistStatus.OPEN
            else None,
            loaded_at=as_utc(in_open_load[key]) if key in in_open_load else None,
        )
        board.append(
            {
                "key": key,
                "stage": stage.name,
                "since": stage.since,
                "location": tray.location if tray else None,
                "last_cycle": tray.last_cycle if tray else None,
                # "closed short" stays until an assembly closes complete
                "short": dict(json.loads(closed.missing))
                if closed is not None and closed.status == ChecklistStatus.SHORT
                else None,
            }
        )
    return board


def case_uses(conn: Connection, session_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Per case session, each item used with the load it last came from before the use
    and that load's status, so a page can flag a use from an unsafe load."""
    u, si, s = usage_logs.c, session_items.c, sessions.c
    used: dict[str, list[dict[str, Any]]] = {}
    rows = conn.execute(
        sa.select(u.session_id, u.item, u.used_at)
        .where(u.session_id.in_(session_ids))
        .order_by(u.session_id, u.used_at, u.item)
    ).all()
    items_used = sorted({row.item for row in rows})
    # Each item's loads (directly, or in a tray that went into a load), oldest first.
    loads: dict[str, list[tuple[datetime, str]]] = {}
    for item, at, session_id in conn.execute(
        sa.select(si.item, si.at, si.session_id)
        .select_from(session_items.join(sessions, s.session_id == si.session_id))
        .where(si.item.in_(items_used), si.action == "add", s.kind == SessionKind.LOAD)
        .order_by(si.at)
    ):
        loads.setdefault(item, []).append((as_utc(at), session_id))
    tray_of = {
        key: tray
        for key, tray in conn.execute(
            sa.select(items.c.key, items.c.tray).where(items.c.key.in_(items_used))
        )
        if tray
    }
    for tray in set(tray_of.values()):
        for item, at, session_id in conn.execute(
            sa.select(si.item, si.at, si.session_id)
            .select_from(session_items.join(sessions, s.session_id == si.session_id))
            .where(si.item == tray, si.action == "add", s.kind == SessionKind.LOAD)
        ):
            for key, holder in tray_of.items():
                if holder == item:
                    loads.setdefault(key, []).append((as_utc(at), session_id))
    status = {
        session_id: load_status
        for session_id, load_status in conn.execute(
            sa.select(cycles.c.session_id, cycles.c.status).where(
                cycles.c.session_id.in_({sid for pairs in loads.values() for _, sid in pairs})
            )
        )
    }
    for row in rows:
        used_at = as_utc(row.used_at) if row.used_at else None
        before = sorted(
            (at, sid) for at, sid in loads.get(row.item, []) if used_at is None or at <= used_at
        )
        load = before[-1][1] if before else None
        used.setdefault(row.session_id, []).append(
            {
                "item": row.item,
                "used_at": used_at,
                "load": load,
                "load_status": status.get(load) if load else None,
                "unsafe": stages.unsafe_load(status.get(load) if load else None),
            }
        )
    return used


def asset_rows(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(sa.select(assets).order_by(assets.c.key).limit(500))
    return [dict(row._mapping) for row in rows]


def sessions_about(conn: Connection, key: str) -> list[str]:
    """The sessions opened for a tray, case, patient or asset move: their opening and
    closing are part of its history."""
    s = sessions.c
    return list(conn.execute(sa.select(s.session_id).where(s.key == key)).scalars())


def case_sessions(conn: Connection, key: str) -> list[str]:
    s = sessions.c
    query = sa.select(s.session_id).where(s.key == key, s.kind == SessionKind.CASE)
    return list(conn.execute(query).scalars())


def alerts_naming(conn: Connection, key: str) -> list[dict[str, Any]]:
    """Alerts whose detail names ``key``: alerts carry their subject in words, so this reads
    the table through (it holds thousands of rows, not millions: repeats are raised once)."""
    escaped = key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    a = alerts.c
    query = (
        sa.select(alerts)
        .where(a.detail.like(f"%{escaped}%", escape="\\"))
        .order_by(a.id)
        .limit(PAGE_ROWS)
    )
    found = [dict(row._mapping) for row in conn.execute(query)]
    # "site:INS-1" also matches inside "site:INS-10": keep whole words only.
    pattern = re.compile(re.escape(key) + r"(?![\w-])")
    return [row for row in found if pattern.search(row["detail"])]


def station_events(conn: Connection, agent_id: str) -> list[dict[str, Any]]:
    """A station's connection history, oldest first (the newest 500 events)."""
    e = agent_events.c
    query = sa.select(agent_events).where(e.agent_id == agent_id).order_by(e.id.desc()).limit(500)
    return [utc_values(row._mapping) for row in conn.execute(query)][::-1]


def station_alerts(conn: Connection, agent_id: str) -> list[dict[str, Any]]:
    a = alerts.c
    query = sa.select(alerts).where(a.agent_id == agent_id).order_by(a.id.desc()).limit(50)
    return [dict(row._mapping) for row in conn.execute(query)]


def asset_moves(conn: Connection, key: str) -> list[dict[str, Any]]:
    """An asset's moves as history entries, oldest first, each naming where it came from:
    the audit trail files a move under its destination, not under each asset it moved."""
    a = assignments.c
    rows = conn.execute(
        sa.select(a.location, a.started_at, a.moved_by, a.event_key)
        .where(a.asset == key)
        .order_by(a.event_key)
    ).all()
    moves = []
    came_from = None
    for row in rows:
        moves.append(
            {
                "at": utc_values({"at": row.started_at})["at"],
                "actor": row.moved_by,
                "action": "moved",
                "cause": row.event_key,
                "detail": {"from": came_from, "to": row.location},
            }
        )
        came_from = row.location
    return moves
