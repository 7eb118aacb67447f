"""Read queries behind the API and dashboard. Keyset pagination on ``id``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.domain.statuses import CASE_STATUS, SessionKind, SessionStatus
from hub.store import records
from hub.store.db import as_utc
from hub.store.tables import agent_streams, agents, alerts, dead_letters, scan_log


def _iso(value: datetime | None) -> str | None:
    """UTC ISO 8601 with its offset, whichever database handed it back."""
    return as_utc(value).isoformat() if value else None


def scans(
    conn: Connection, agent_id: str | None, after_id: int, limit: int
) -> list[dict[str, Any]]:
    query = sa.select(scan_log).where(scan_log.c.id > after_id).order_by(scan_log.c.id).limit(limit)
    if agent_id is not None:
        query = query.where(scan_log.c.agent_id == agent_id)
    return [
        {
            "id": row.id,
            "agent_id": row.agent_id,
            "incarnation": row.incarnation,
            "seq": row.seq,
            "event_id": row.event_id,
            "duplicate": row.duplicate,
            "scanned_at": _iso(row.scanned_at),
            "event_at": _iso(row.event_at or row.scanned_at),  # corrected by the clock offset
            "received_at": _iso(row.received_at),
            "raw": row.raw,
            "event": json.loads(row.payload),
        }
        for row in conn.execute(query)
    ]


def fleet(conn: Connection) -> list[dict[str, Any]]:
    """Each agent: its sync state, what its last heartbeat said (alarms, scanners, disk,
    clock, reference snapshot age) and its newest clock offset estimate."""
    streams = {(r.agent_id, r.incarnation): r for r in conn.execute(sa.select(agent_streams))}
    clocks = records.agent_clocks.c
    offsets = {
        agent_id: (offset_s, skewed)
        for agent_id, offset_s, skewed in conn.execute(
            sa.select(clocks.agent_id, clocks.offset_s, clocks.skewed).order_by(clocks.measured_at)
        )
    }  # ordered by time: each agent's newest estimate stays
    result = []
    for row in conn.execute(sa.select(agents).order_by(agents.c.agent_id)):
        stream = streams.get((row.agent_id, row.incarnation))
        health = json.loads(row.health) if row.health else {}
        offset_s, skewed = offsets.get(row.agent_id, (None, None))
        result.append(
            {
                "agent_id": row.agent_id,
                "online": row.state == "online",
                "state": row.state,
                "station": row.station,
                "mode": row.mode,
                "version": row.version,
                "last_seen_at": _iso(row.last_seen_at),
                "incarnation": row.incarnation,
                "confirmed_seq": stream.confirmed_seq if stream else 0,
                "projected_seq": stream.projected_seq if stream else 0,
                "max_seen_seq": stream.max_seen_seq if stream else 0,
                "gap_since": _iso(stream.gap_since) if stream else None,
                "backlog": row.backlog,
                "oldest_unconfirmed_age_s": row.oldest_unconfirmed_age_s,
                "health_at": _iso(row.health_at),
                "alarms": list(health.get("alarms", ())),
                "scanners_connected": health.get("scanners_connected"),
                "disk_free_bytes": health.get("disk_free_bytes"),
                "clock_synced": health.get("clock_synced"),
                "clock_offset_s": offset_s,
                "clock_skewed": skewed,
                "reference_age_s": health.get("reference_age_s"),
            }
        )
    return result


def projection(conn: Connection, now: datetime) -> dict[str, Any]:
    """How far the records are behind the scan log: scans stored (up to each watermark)
    and not yet projected, and how long the oldest of them has waited."""
    c = agent_streams.c
    lagging = conn.execute(
        sa.select(c.agent_id, c.incarnation, c.projected_seq, c.confirmed_seq).where(
            c.projected_seq < c.confirmed_seq
        )
    ).all()
    s = scan_log.c
    head = s.agent_id == c.agent_id, s.incarnation == c.incarnation, s.seq == c.projected_seq + 1
    oldest = conn.execute(
        sa.select(sa.func.min(s.received_at))
        .select_from(agent_streams.join(scan_log, sa.and_(*head)))
        .where(c.projected_seq < c.confirmed_seq)
    ).scalar()
    oldest = as_utc(oldest) if oldest is not None else None
    return {
        "lag_scans": sum(r.confirmed_seq - r.projected_seq for r in lagging),
        "lagging_streams": len(lagging),
        "oldest_unprojected_at": _iso(oldest),
        "oldest_unprojected_age_s": (now - oldest).total_seconds() if oldest else 0.0,
    }


def dead_letter_page(conn: Connection, after_id: int, limit: int) -> list[dict[str, Any]]:
    query = (
        sa.select(dead_letters)
        .where(dead_letters.c.id > after_id)
        .order_by(dead_letters.c.id)
        .limit(limit)
    )
    return [_dead_letter(r) for r in conn.execute(query)]


def dead_letter_state(conn: Connection) -> dict[str, Any]:
    """What the live stream says of dead letters: it changes when one is kept or replayed."""
    d = dead_letters.c
    # Two lookups by index (the primary key; ix_dead_letters_replayed holds only replayed
    # letters): the stream asks this on every poll of every client.
    newest = conn.execute(sa.select(sa.func.max(d.id))).scalar()
    replayed = conn.execute(
        sa.select(sa.func.count()).select_from(dead_letters).where(d.replayed_at.is_not(None))
    ).scalar()
    return {"newest_id": newest, "replayed": replayed}


def _dead_letter(row: sa.Row[Any]) -> dict[str, Any]:
    result = json.loads(row.replay_result) if row.replay_result else None
    return {**plain_row(row._mapping), "replay_result": result}


def alert_page(
    conn: Connection,
    after_id: int,
    limit: int,
    filters: dict[str, str] | None = None,
    open_only: bool = False,
) -> list[dict[str, Any]]:
    """Alerts oldest first; ``filters`` by column (severity, kind, agent_id); ``open_only``:
    those nobody acknowledged yet."""
    a = alerts.c
    query = sa.select(alerts).where(a.id > after_id).order_by(a.id).limit(limit)
    for column, value in (filters or {}).items():
        query = query.where(a[column] == value)
    if open_only:
        query = query.where(a.acknowledged_at.is_(None))
    return [plain_row(row._mapping) for row in conn.execute(query)]


# Columns that hold a badge: each gets ``<column>_name`` and ``<column>_role`` beside it.
BADGES = ("operator", "moved_by", "actor")


def named_rows(
    conn: Connection, rows: list[dict[str, Any]], key_kind: str | None
) -> list[dict[str, Any]]:
    """Rows as the API gives them: times in ISO 8601, each badge with the person's name
    and role, each catalogued code with its name."""
    plain = [plain_row(row) for row in rows]
    with_names(conn, plain, key_kind)
    return _named(conn, plain)


def audit_page(conn: Connection, after_id: int, limit: int) -> list[dict[str, Any]]:
    log = records.audit_log
    query = sa.select(log).where(log.c.id > after_id).order_by(log.c.id).limit(limit)
    return _named(conn, [plain_row(row._mapping) for row in conn.execute(query)])


def plain_row(values: Mapping[Any, Any]) -> dict[str, Any]:
    """A row as the API gives it: times in ISO 8601."""
    return {k: (_iso(v) if isinstance(v, datetime) else v) for k, v in values.items()}


def _named(conn: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Name the person behind each badge from the staff reference data, keeping the badge
    code as recorded: a badge nobody imported gets no name."""
    columns = [c for c in BADGES if rows and c in rows[0]]
    badges = {row[c] for row in rows for c in columns if row[c]}
    staff = records.ref_staff
    people = (
        {
            code: (name, role)
            for code, name, role in conn.execute(
                sa.select(staff.c.code, staff.c.name, staff.c.role).where(staff.c.code.in_(badges))
            )
        }
        if badges
        else {}
    )
    for row in rows:
        for column in columns:
            name, role = people.get(row[column], (None, None))
            row[f"{column}_name"], row[f"{column}_role"] = name, role
    return rows


def case_page(conn: Connection, after: str, limit: int) -> list[dict[str, Any]]:
    """Surgical cases in code order after ``after``: each scheduled case imported from the
    scheduler and each case scanned at an OR, with its status scheduled, in_progress, done
    or cancelled."""
    ref, s = records.ref_cases, records.sessions
    scheduled = sa.select(ref.c.code.label("key")).where(ref.c.code > after)
    scanned = sa.select(s.c.key).where(s.c.kind == SessionKind.CASE, s.c.key > after)
    keys = sa.union(scheduled, scanned).subquery()
    page = list(conn.execute(sa.select(keys.c.key).order_by(keys.c.key).limit(limit)).scalars())
    plans = {row.code: row for row in conn.execute(sa.select(ref).where(ref.c.code.in_(page)))}
    newest: dict[str, Any] = {}
    query = (
        sa.select(s)
        .where(s.c.kind == SessionKind.CASE, s.c.key.in_(page))
        .order_by(s.c.key, s.c.opened_key)
    )
    for row in conn.execute(query):
        newest[row.key] = row  # ordered by opened_key: the last one stays
    cases = []
    for key in page:
        plan, session = plans.get(key), newest.get(key)
        cases.append(
            {
                "case": key,
                "status": CASE_STATUS[session.status] if session else "scheduled",
                "room": plan.room if plan else None,
                "scheduled_start": _iso(plan.scheduled_start) if plan else None,
                "procedure": plan.procedure if plan else None,
                "session_id": session.session_id if session else None,
                "agent_id": session.agent_id if session else None,
                "started_at": _iso(session.opened_at) if session else None,
                "ended_at": _iso(session.closed_at) if session else None,
                "ended_by": _ended_by(session),
            }
        )
    with_names(conn, cases, None)
    return cases


def _ended_by(session: Any) -> str | None:
    """What ended a case: the station's next case, or CMD-DONE."""
    if session is None or session.status != SessionStatus.CLOSED:
        return None
    return str(session.result) if session.result else "CMD-DONE"


MAX_DEPTH = 12  # site, building, floor, department, room, bay, with room to spare


def where_is(conn: Connection, key: str, history: int) -> dict[str, Any] | None:
    """An asset's location with its path from the site down, and its newest moves."""
    asset = conn.execute(sa.select(records.assets).where(records.assets.c.key == key)).first()
    if asset is None:
        return None
    a = records.assignments
    moves = conn.execute(
        sa.select(a).where(a.c.asset == key).order_by(a.c.event_key.desc()).limit(history)
    ).all()
    return {
        "asset": key,
        "status": asset.status,
        "location": asset.location,
        "path": location_path(conn, asset.location) if asset.location else [],
        "history": _named(conn, [plain_row(move._mapping) for move in moves]),  # one staff read
    }


def location_path(conn: Connection, code: str) -> list[dict[str, Any]]:
    """The location and its parents from the site down, e.g. site / building / floor /
    department / room; a location nobody registered is its own one-step path."""
    ref = records.ref_locations
    path: list[dict[str, Any]] = []
    at: str | None = code
    while at is not None and len(path) < MAX_DEPTH and at not in {p["code"] for p in path}:
        row = conn.execute(sa.select(ref).where(ref.c.code == at)).first()
        if row is None:
            path.append({"code": at, "name": None, "level": None})
            break
        path.append({"code": row.code, "name": row.name, "level": row.level})
        at = row.parent
    return path[::-1]


def newest_ids(conn: Connection) -> tuple[int, int]:
    """The newest audit entry's id and the newest alert's: where a new stream starts."""
    audit = conn.execute(sa.select(sa.func.max(records.audit_log.c.id))).scalar()
    alert = conn.execute(sa.select(sa.func.max(alerts.c.id))).scalar()
    return int(audit or 0), int(alert or 0)


def record_changes(conn: Connection, after_id: int, limit: int) -> list[dict[str, Any]]:
    """Audit entries after ``after_id``: every change the projector made to a record, with
    its cause scan; the hash chain is left to ``/api/v1/audit``."""
    log = records.audit_log.c
    query = (
        sa.select(log.id, log.at, log.actor, log.action, log.entity, log.entity_key, log.cause)
        .where(log.id > after_id)
        .order_by(log.id)
        .limit(limit)
    )
    return [plain_row(row._mapping) for row in conn.execute(query)]


# Columns that hold a catalogued code: each gets ``<column>_name`` from its reference table.
NAMED_CODES: dict[str, tuple[sa.Table, ...]] = {
    "item": (records.ref_instruments, records.ref_trays),
    "tray": (records.ref_trays,),
    "sterilizer": (records.ref_sterilizers,),
    "location": (records.ref_locations,),
    "room": (records.ref_locations,),  # operating rooms are locations
}


def with_names(conn: Connection, rows: list[dict[str, Any]], key_kind: str | None) -> None:
    """Put the reference name beside each catalogued code, in place (``None`` when nobody
    imported the code). ``key_kind``: the catalogue the rows' ``key`` column is in."""
    columns = {c: tables for c, tables in NAMED_CODES.items() if rows and c in rows[0]}
    if key_kind is not None and rows and "key" in rows[0]:
        columns["key"] = NAMED_CODES[key_kind]
    for column, tables in columns.items():
        codes = {row[column] for row in rows if row[column]}
        names: dict[str, str] = {}
        for table in tables:
            if codes:
                query = sa.select(table.c.code, table.c.name).where(table.c.code.in_(codes))
                names.update({code: name for code, name in conn.execute(query)})
        for row in rows:
            row[f"{column}_name"] = names.get(row[column])


def history(conn: Connection, keys: list[str], after_id: int, limit: int) -> list[dict[str, Any]]:
    """What happened to one instrument, tray, asset, load or case, oldest first: each audit
    entry with its cause scan's agent, station and raw text. ``keys``: the ways to spell it
    (a code as typed and as its key; a load's session id is no barcode)."""
    log = records.audit_log.c
    query = (
        sa.select(log.id, log.at, log.actor, log.action, log.entity, log.cause, log.detail)
        .where(log.entity_key.in_(keys), log.id > after_id)
        .order_by(log.id)
        .limit(limit)
    )
    entries = [plain_row(row._mapping) for row in conn.execute(query)]
    for entry in entries:
        entry["detail"] = json.loads(entry["detail"])
    return _named(conn, with_scans(conn, entries))


def with_scans(conn: Connection, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each entry with the scan its ``cause`` (an event key) names, in place: its agent,
    station, raw text, when it was scanned and when it reached the hub."""
    streams: dict[tuple[str, str], set[int]] = {}
    for entry in entries:
        if entry["cause"]:
            agent_id, incarnation, seq = _scan_of(entry["cause"])
            streams.setdefault((agent_id, incarnation), set()).add(seq)
    scans: dict[tuple[str, str, int], dict[str, Any]] = {}
    c = scan_log.c
    # One query per stream, on the log's unique (agent, incarnation, seq) index: a row-value
    # IN over all three made SQLite scan the whole log (86 ms a call at 200,000 scans).
    for (agent_id, incarnation), seqs in streams.items():
        found = conn.execute(
            sa.select(c.seq, c.raw, c.payload, c.scanned_at, c.event_at, c.received_at).where(
                c.agent_id == agent_id, c.incarnation == incarnation, c.seq.in_(sorted(seqs))
            )
        )
        for seq, raw, payload, scanned_at, event_at, received_at in found:
            context = json.loads(payload).get("context") or {}
            scans[(agent_id, incarnation, seq)] = {
                "raw": raw,
                "station": context.get("station"),
                "scanned_at": _iso(event_at or scanned_at),
                "received_at": _iso(received_at),
            }
    unknown = {"raw": None, "station": None, "scanned_at": None, "received_at": None}
    for entry in entries:
        cause = _scan_of(entry["cause"]) if entry["cause"] else None
        scan = scans.get(cause, unknown) if cause else unknown
        entry.update(agent_id=cause[0] if cause else None, **scan)
    return entries


def _scan_of(cause: str) -> tuple[str, str, int]:
    """The scan an event key names: ``<time>|<agent>|<incarnation>|<seq>``."""
    _, agent_id, incarnation, seq = cause.split("|")
    return agent_id, incarnation, int(seq)


def load_by_label(conn: Connection, label: str) -> dict[str, Any] | None:
    """The newest load a cycle label (``<sterilizer key>.<cycle number>``) names."""
    sterilizer, _, number = label.rpartition(".")
    c = records.cycles.c
    found = conn.execute(
        sa.select(records.cycles)
        .where(c.sterilizer == sterilizer, c.cycle_number == number)
        .order_by(c.started_key.desc())
        .limit(1)
    ).first()
    return plain_row(found._mapping) if found is not None else None
