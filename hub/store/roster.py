"""The hubs on one database: each one's row, and which of them leads.

Who leads is PostgreSQL's answer, not a row's: the hub whose leadership connection holds
the leader lock (``pg_locks``). Each row names its connection's backend pid, so a hub
killed a moment ago, whose row still looks fresh, is never shown leading once another
holds the lock (hub/cluster/leadership.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Connection

from hub.store.db import as_utc
from hub.store.tables import hubs

# Any fixed 64-bit number names the lock; this one spells "stleader" in ASCII. Apart from
# the projector's step lock (projector.py ADVISORY_LOCK): the leader's own steps take that
# one on other connections, and a session lock held here would refuse them.
LEADER_LOCK = 0x73746C6561646572
# A hub writes its row every leader_check_s (at most 5 s): silent for this long, it is down.
GONE_S = 15.0


def beat(conn: Connection, row: dict[str, Any]) -> None:
    """Write this hub's row (PostgreSQL: hubs share a database only there)."""
    upsert = insert(hubs).values(row)
    conn.execute(
        upsert.on_conflict_do_update(
            index_elements=[hubs.c.name], set_={k: upsert.excluded[k] for k in row if k != "name"}
        )
    )


def leader_backend(conn: Connection) -> int | None:
    """The backend pid holding the leader lock, if any hub holds it."""
    high, low = LEADER_LOCK >> 32, LEADER_LOCK & 0xFFFFFFFF
    found = conn.execute(
        sa.text(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND classid = :high AND objid = :low AND objsubid = 1"
        ),
        {"high": high, "low": low},
    ).scalar()
    return int(found) if found is not None else None


def rows(conn: Connection, now: datetime) -> list[dict[str, Any]]:
    """Every hub that has run on this database, the leader first, then the running ones by
    name; none on SQLite (one hub, no rows)."""
    if conn.dialect.name != "postgresql":
        return []
    holder = leader_backend(conn)
    found = []
    for row in conn.execute(sa.select(hubs)):
        running = (now - as_utc(row.seen_at)).total_seconds() < GONE_S
        leads = holder is not None and row.backend_pid == holder
        found.append(
            {
                "name": row.name,
                "role": "leader" if leads else "follower" if running else "stopped",
                "running": running or leads,
                "host": row.host,
                "pid": row.pid,
                "version": row.version,
                "started_at": as_utc(row.started_at),
                "seen_at": as_utc(row.seen_at),
            }
        )
    return sorted(found, key=lambda h: (h["role"] != "leader", not h["running"], h["name"]))
