"""Record lists as people search them: per-kind filters, a time range, keyset pages.

Each kind names its filters once (``LISTS``); the web edge turns them into that kind's
query parameters, and refuses any other. ``key`` is the thing people know a record by: a
load's session, an item's or asset's code, the case of a usage, the tray of a checklist.
A ``location`` filter takes the location and everything under it (ref_locations.parent).

Pages are keyset pages on the primary key: ``next_after`` is an opaque cursor (the last
row's primary key, base64 JSON), so a page never shifts when rows are added before it.
Any other text is a position too: the rows whose first key column sorts after it. So
every ``after`` has an answer, and a cursor from another list is a page, not an error.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.store import records


@dataclass(frozen=True)
class RecordList:
    table: sa.Table
    filters: dict[str, str]  # filter name -> column
    time: str | None = None  # the column ``since`` and ``until`` bound
    hierarchy: frozenset[str] = field(default_factory=frozenset)  # filters over locations


LISTS: dict[str, RecordList] = {
    "cycles": RecordList(
        records.cycles,
        {"key": "session_id", "sterilizer": "sterilizer", "status": "status"},
        "started_at",
    ),
    "items": RecordList(
        records.items,
        {"key": "key", "status": "status", "tray": "tray", "location": "location"},
        hierarchy=frozenset({"location"}),
    ),
    "tray-checklists": RecordList(
        records.tray_checklists, {"key": "tray", "status": "status"}, "started_at"
    ),
    "usage": RecordList(
        records.usage_logs, {"key": "case_ref", "case": "case_ref", "item": "item"}, "used_at"
    ),
    "assets": RecordList(
        records.assets,
        {"key": "key", "status": "status", "location": "location"},
        hierarchy=frozenset({"location"}),
    ),
    "assignments": RecordList(
        records.assignments,
        {"key": "asset", "location": "location"},
        "started_at",
        frozenset({"location"}),
    ),
    "equipment-logs": RecordList(
        records.equipment_logs, {"key": "asset", "status": "status"}, "loaned_at"
    ),
    "inspections": RecordList(
        records.inspections, {"key": "asset", "result": "result", "inspector": "inspector"}, "at"
    ),
    "sessions": RecordList(
        records.sessions,
        {"key": "key", "kind": "kind", "status": "status", "agent_id": "agent_id"},
        "opened_at",
    ),
}


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, default=str).encode()).decode()


def decode_cursor(text: str, width: int) -> list[Any] | None:
    """The key values a ``next_after`` holds; None for text that is not one."""
    try:
        values = json.loads(base64.urlsafe_b64decode(text.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(values, list) or len(values) != width:
        return None
    return values if all(isinstance(v, str | int) for v in values) else None


def page(
    conn: Connection,
    kind: str,
    filters: dict[str, str],
    since: datetime | None,
    until: datetime | None,
    after: str | None,
    limit: int,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page and the cursor of the next (None on the last page). ``filters`` hold only
    names ``LISTS[kind].filters`` has, with values as keys (``site:INS-1``)."""
    spec = LISTS[kind]
    table = spec.table
    primary = list(table.primary_key.columns)
    query = sa.select(table).order_by(*primary).limit(limit)
    for name, value in filters.items():
        column = table.c[spec.filters[name]]
        if name in spec.hierarchy:
            query = query.where(column.in_(sorted(_under(conn, value))))
        else:
            query = query.where(column == value)
    if spec.time is not None and since is not None:
        query = query.where(table.c[spec.time] >= since)
    if spec.time is not None and until is not None:
        query = query.where(table.c[spec.time] < until)
    if after is not None:
        values = decode_cursor(after, len(primary))
        if values is None:
            query = query.where(primary[0] > after)
        else:
            query = query.where(sa.tuple_(*primary) > sa.tuple_(*[sa.literal(v) for v in values]))
    rows = [dict(row._mapping) for row in conn.execute(query)]
    following = encode_cursor([rows[-1][c.name] for c in primary]) if len(rows) == limit else None
    return rows, following


def _under(conn: Connection, location: str) -> set[str]:
    """The location and every location below it in the reference hierarchy."""
    ref = records.ref_locations.c
    children: dict[str, list[str]] = {}
    for code, parent in conn.execute(sa.select(ref.code, ref.parent)):
        if parent:
            children.setdefault(parent, []).append(code)
    found, todo = {location}, [location]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found
