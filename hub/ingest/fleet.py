"""The fleet's sync state: what each agent last said about itself, and when.

Written once per agent per ingest transaction, in bulk, whatever the number of messages.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.ingest.clocks import BootKey, Clocks, Estimate, event_time
from hub.ingest.triage import Arrival
from hub.store.db import insert_into, upsert_many
from hub.store.records import agent_clocks
from hub.store.tables import agent_events, agents
from protocol.messages import AgentHealth, AgentStatus, ScanEvent


class Fleet:
    def __init__(self, skew_alert_s: float) -> None:
        self._skew_alert_s = skew_alert_s
        self._clocks = Clocks(skew_alert_s)
        self._estimates: dict[BootKey, Estimate | None] = {}  # None: never measured

    def record_statuses(
        self, conn: Connection, statuses: Iterable[AgentStatus], now: datetime
    ) -> None:
        statuses = list(statuses)
        if not statuses:
            return
        was = {
            agent_id: state
            for agent_id, state in conn.execute(
                sa.select(agents.c.agent_id, agents.c.state).where(
                    agents.c.agent_id.in_({s.agent_id for s in statuses})
                )
            )
        }
        changed = []
        for status in statuses:
            if was.get(status.agent_id) != status.state:
                was[status.agent_id] = status.state
                changed.append({"agent_id": status.agent_id, "at": now, "kind": status.state})
        if changed:
            conn.execute(agent_events.insert(), changed)
        rows = [
            {
                "agent_id": s.agent_id,
                "state": s.state,
                "version": s.version,
                "station": s.station,
                "mode": s.mode,
                "status_at": now,
                "last_seen_at": now,
            }
            for s in statuses
        ]
        upsert_many(conn, agents, ["agent_id"], rows)

    def record_healths(
        self, conn: Connection, arrivals: Iterable[Arrival]
    ) -> list[tuple[str, str]]:
        """Store each heartbeat and its clock sample; return (agent, alert text) for each
        clock that has just gone beyond the threshold."""
        alerts: list[tuple[str, str]] = []
        rows = []
        clocks = []
        arrivals = list(arrivals)
        if not arrivals:
            return alerts
        backlog_was = {
            agent_id: backlog
            for agent_id, backlog in conn.execute(
                sa.select(agents.c.agent_id, agents.c.backlog).where(
                    agents.c.agent_id.in_({a.health.agent_id for a in arrivals})
                )
            )
        }
        caught_up = []
        for arrival in arrivals:
            health, at = arrival.health, arrival.arrived_at
            key = (health.agent_id, health.boot_id or "")
            was = self._estimate(conn, key)
            estimate = self._clocks.sample(
                key, health.sent_at, at, health.monotonic_ns, arrival.arrived_mono_ns
            )
            self._estimates[key] = estimate
            if estimate.skewed and not (was and was.skewed):
                alerts.append((health.agent_id, _skew_text(estimate, health)))
            clocks.append(
                {
                    "agent_id": key[0],
                    "boot_id": key[1],
                    "offset_s": estimate.offset_s,
                    "boot_offset_s": estimate.boot_offset_s,
                    "measured_at": at,
                    "skewed": estimate.skewed,
                }
            )
            if backlog_was.get(health.agent_id) and health.backlog == 0:
                event = {"agent_id": health.agent_id, "at": at, "kind": "caught_up"}
                caught_up.append({**event, "backlog": backlog_was[health.agent_id]})
            backlog_was[health.agent_id] = health.backlog
            rows.append(
                {
                    "agent_id": health.agent_id,
                    "incarnation": health.incarnation,
                    "backlog": health.backlog,
                    "oldest_unconfirmed_age_s": health.oldest_unconfirmed_age_s,
                    "health": health.model_dump_json(),
                    "health_at": at,
                    "last_seen_at": at,
                }
            )
        upsert_many(conn, agent_clocks, ["agent_id", "boot_id"], clocks)
        upsert_many(conn, agents, ["agent_id"], rows)
        caught_up = [e for e in caught_up if _back_online(conn, e["agent_id"])]
        if caught_up:
            conn.execute(agent_events.insert(), caught_up)
        return alerts

    def record_seen(
        self, conn: Connection, seen: dict[str, str], synced: dict[str, bool], now: datetime
    ) -> None:
        """Agents whose scans arrived: ``seen`` maps each to its incarnation, ``synced`` to
        whether its newest new scan was taken with its clock synced (kept as it was for an
        agent that sent only scans the hub had)."""
        rows = [
            {
                "agent_id": agent_id,
                "incarnation": incarnation,
                "last_seen_at": now,
                "clock_synced": synced.get(agent_id),
            }
            for agent_id, incarnation in seen.items()
        ]
        if rows:
            conn.execute(_seen(conn), rows)

    def event_at(self, conn: Connection, event: ScanEvent) -> datetime:
        """When a scan was taken (clocks.py ``event_time``): its own time if its station's
        clock was synced, or unless its boot's clock is known to put it elsewhere."""
        estimate = self._estimate(conn, (event.agent_id, event.boot_id))
        return event_time(
            estimate, event.scanned_at, event.monotonic_ns, event.clock_synced, self._skew_alert_s
        )

    def _estimate(self, conn: Connection, key: BootKey) -> Estimate | None:
        """The current estimate, read from the database once per process (a restarted hub
        keeps correcting by what the last one measured)."""
        if key not in self._estimates:
            c = agent_clocks.c
            row = conn.execute(
                sa.select(c.offset_s, c.skewed, c.boot_offset_s).where(
                    c.agent_id == key[0], c.boot_id == key[1]
                )
            ).first()
            self._estimates[key] = (
                Estimate(float(row.offset_s), bool(row.skewed), row.boot_offset_s) if row else None
            )
        return self._estimates[key]

    def forget(self) -> None:
        """Drop cached estimates after a rolled-back transaction: the database is the truth."""
        self._estimates.clear()


def _skew_text(estimate: Estimate, health: AgentHealth) -> str:
    off = f"clock is {estimate.offset_s:+.1f} s off the hub's (boot {health.boot_id or 'unknown'})"
    if health.clock_synced:
        # NTP set it, so it may be the hub's clock that is wrong (clocks.py).
        return f"{off}, though synced: check the hub's clock too; its scans keep their own times"
    return f"{off}, not synced; its scans are corrected by the offset"


def _back_online(conn: Connection, agent_id: str) -> bool:
    """The station's newest event is its return online: its backlog reaching zero now is
    the end of an outage's catch-up, not a scan or two in flight between heartbeats."""
    e = agent_events.c
    newest = conn.execute(
        sa.select(e.kind).where(e.agent_id == agent_id).order_by(e.id.desc()).limit(1)
    ).scalar()
    return newest == "online"


_SEEN: dict[str, Any] = {}


def _seen(conn: Connection) -> Any:
    """The upsert ``record_seen`` runs every batch, built once per dialect: built anew, it
    took an eighth of a hub's ingest time when each batch holds a scan or two (three hubs
    sharing the stations, py-spy --gil)."""
    name = conn.dialect.name
    if name not in _SEEN:
        stmt = insert_into(conn, agents)
        kept = sa.func.coalesce(stmt.excluded.clock_synced, agents.c.clock_synced)
        _SEEN[name] = stmt.on_conflict_do_update(
            index_elements=["agent_id"],
            set_={
                "incarnation": stmt.excluded.incarnation,
                "last_seen_at": stmt.excluded.last_seen_at,
                "clock_synced": kept,
            },
        )
    return _SEEN[name]
