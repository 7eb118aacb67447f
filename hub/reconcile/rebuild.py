"""``scantrail-hub rebuild``: derive every record again from the scan log, then swap.

The records are a function of the applied scans (hub/domain/rules.py: per agent in seq order, any
order across agents), so the projector run from zero into fresh tables, up to each
agent's watermark, must give the live records. The fresh tables are compared with the
live ones, the differences counted, the live tables replaced and every projection cursor
set to where the rebuild stopped, all in one transaction: on SQLite that holds the write
lock, so ingest waits (stop the hub first for a very large log); on PostgreSQL it holds
the projector's advisory lock, so the live projector waits.
Alerts and the audit trail are history, not records: the rebuild raises no alerts and
appends one audit entry with what it found.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from hub.domain.facts import DEFAULT_POLICY, Policy, utc
from hub.reconcile import audit
from hub.reconcile.apply import Range, Reconciler
from hub.reconcile.projector import ADVISORY_LOCK, Projector, move_cursors
from hub.reconcile.unit import Tables
from hub.store import records
from hub.store.tables import agent_streams, scan_log
from protocol.barcodes import DEFAULT_RULES, DecodeRules
from protocol.topics import HUB_AGENT_ID

CHUNK = 5000
PREFIX = "rebuild_"


@dataclass(frozen=True)
class TableReport:
    live: int
    rebuilt: int
    differ: int


def fresh_tables() -> tuple[sa.MetaData, Tables]:
    meta = sa.MetaData()
    copies = []
    for table in records.RECORDS:
        copy = table.to_metadata(meta, name=PREFIX + table.name)
        for index in copy.indexes:
            index.name = sa.sql.quoted_name(PREFIX + str(index.name), None)
        copies.append(copy)
    return meta, Tables(*copies)


def snapshot(conn: Connection, table: sa.Table) -> list[tuple[Any, ...]]:
    """Every row, in a stable order, with timestamps made comparable across drivers."""
    rows = [tuple(_plain(v) for v in row) for row in conn.execute(sa.select(table)).all()]
    return sorted(rows, key=repr)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return utc(value).replace(tzinfo=None)
    return value


def replay(conn: Connection, reconciler: Reconciler) -> tuple[int, list[Range]]:
    """The projector from zero up to each stream's watermark; return the scans applied and
    the ranges covered, so the caller can set each cursor to the end of its range.

    Stream by stream: an agent's scans name only its own sessions, and an agent's streams
    in the order they began (its first scan's place in the log): a station that renumbered
    what it holds (agent/outbox.py) goes on under a new incarnation, and its scans there
    may join sessions opened under the old one. The hub's own stream (fields people
    entered for other agents' loads, hub/ingest/manual.py) comes last, as its entries came
    after the loads they name."""
    projector = Projector(reconciler)
    c, s = agent_streams.c, scan_log.c
    began = (
        sa.select(s.id)
        .where(s.agent_id == c.agent_id, s.incarnation == c.incarnation)
        .order_by(s.seq)
        .limit(1)
        .scalar_subquery()
    )
    streams = conn.execute(
        sa.select(c.agent_id, c.incarnation, c.confirmed_seq).order_by(
            c.agent_id == HUB_AGENT_ID, c.agent_id, began, c.incarnation
        )
    ).all()
    applied = 0
    for agent_id, incarnation, confirmed in streams:
        for start in range(0, confirmed, CHUNK):
            upto = min(start + CHUNK, confirmed)
            applied += upto - start
            _, set_aside = projector.project(conn, [Range(agent_id, incarnation, start, upto)], {})
            applied -= set_aside
    return applied, [Range(a, i, 0, confirmed) for a, i, confirmed in streams]


def rebuild(
    engine: Engine,
    decode_rules: DecodeRules = DEFAULT_RULES,
    policy: Policy = DEFAULT_POLICY,
) -> dict[str, TableReport]:
    meta, fresh = fresh_tables()
    live = Tables.live()
    report: dict[str, TableReport] = {}
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(ADVISORY_LOCK)))
        meta.drop_all(conn)
        meta.create_all(conn)
        scans, covered = replay(
            conn, Reconciler(fresh, live=False, decode_rules=decode_rules, policy=policy)
        )
        for name in Tables.__dataclass_fields__:
            old, new = getattr(live, name), getattr(fresh, name)
            before, after = snapshot(conn, old), snapshot(conn, new)
            differ = len(set(before) ^ set(after))
            report[old.name] = TableReport(len(before), len(after), differ)
            conn.execute(old.delete())
            conn.execute(old.insert().from_select(list(old.c.keys()), sa.select(new)))
        meta.drop_all(conn)
        move_cursors(conn, covered)  # queued ranges stay: the projector skips what these cover
        trail = audit.Trail(conn)
        summary = {"scans": scans, **{k: vars(v) for k, v in report.items()}}
        trail.add(None, "rebuild", "records", "all", summary)
        trail.flush()
    return report
