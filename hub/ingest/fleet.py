"""The fleet's sync state: what each agent last said about itself, and when."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.store.db import upsert
from hub.store.records import agent_clocks
from hub.store.tables import agents
from protocol.messages import AgentHealth, AgentStatus


def record_status(conn: Connection, status: AgentStatus, now: datetime) -> None:
    upsert(
        conn,
        agents,
        ["agent_id"],
        {
            "agent_id": status.agent_id,
            "state": status.state,
            "version": status.version,
            "station": status.station,
            "mode": status.mode,
            "status_at": now,
            "last_seen_at": now,
        },
    )


def record_health(
    conn: Connection, health: AgentHealth, now: datetime, skew_alert_s: float
) -> str | None:
    """Store the heartbeat and the agent's clock offset (hub time minus agent time, which
    on a LAN is the clock error plus a few ms of transit). Return an alert text when the
    offset first goes beyond ``skew_alert_s``."""
    offset = (now - health.sent_at).total_seconds()
    skewed = abs(offset) > skew_alert_s
    was = conn.execute(
        sa.select(agent_clocks.c.skewed).where(agent_clocks.c.agent_id == health.agent_id)
    ).scalar()
    upsert(
        conn,
        agent_clocks,
        ["agent_id"],
        {"agent_id": health.agent_id, "offset_s": offset, "measured_at": now, "skewed": skewed},
    )
    upsert(
        conn,
        agents,
        ["agent_id"],
        {
            "agent_id": health.agent_id,
            "incarnation": health.incarnation,
            "backlog": health.backlog,
            "oldest_unconfirmed_age_s": health.oldest_unconfirmed_age_s,
            "health": health.model_dump_json(),
            "health_at": now,
            "last_seen_at": now,
        },
    )
    if skewed and not was:
        synced = "synced" if health.clock_synced else "not synced"
        return f"clock is {offset:+.1f} s off the hub's ({synced}); scans are corrected by it"
    return None


def clock_offset_s(conn: Connection, agent_id: str) -> float:
    """The offset scans are corrected by: only a skew beyond transit noise counts, so
    scans of a well-synced agent keep their own timestamps exactly."""
    row = conn.execute(
        sa.select(agent_clocks.c.offset_s, agent_clocks.c.skewed).where(
            agent_clocks.c.agent_id == agent_id
        )
    ).first()
    return float(row.offset_s) if row is not None and row.skewed else 0.0


def record_seen(conn: Connection, agent_id: str, incarnation: str, now: datetime) -> None:
    upsert(
        conn,
        agents,
        ["agent_id"],
        {"agent_id": agent_id, "incarnation": incarnation, "last_seen_at": now},
    )
