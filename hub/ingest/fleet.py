"""The fleet's sync state: what each agent last said about itself, and when."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Connection

from hub.store.db import upsert
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


def record_health(conn: Connection, health: AgentHealth, now: datetime) -> None:
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


def record_seen(conn: Connection, agent_id: str, incarnation: str, now: datetime) -> None:
    upsert(
        conn,
        agents,
        ["agent_id"],
        {"agent_id": agent_id, "incarnation": incarnation, "last_seen_at": now},
    )
