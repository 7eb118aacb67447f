"""An operator acknowledges an alert, with a note; the audit trail names who did."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.store.audit_chain import append, encode_detail
from hub.store.db import utc_values
from hub.store.tables import alerts

ALREADY = "already"


def acknowledge(
    conn: Connection, alert_id: int, by: str, note: str, now: datetime
) -> dict[str, Any] | str | None:
    """The alert as acknowledged now; ``ALREADY`` when someone did before; None when there
    is no such alert. The caller commits."""
    a = alerts.c
    # The UPDATE comes first: on SQLite it takes the write lock before the audit trail's
    # newest hash is read, so no other writer appends in between (audit_chain.py).
    done = conn.execute(
        alerts.update()
        .where(a.id == alert_id, a.acknowledged_at.is_(None))
        .values(acknowledged_at=now, acknowledged_by=by, ack_note=note)
    )
    row = conn.execute(sa.select(alerts).where(a.id == alert_id)).first()
    if row is None:
        return None
    if done.rowcount != 1:
        return ALREADY
    entry = {"note": note, "kind": row.kind, "severity": row.severity}
    append(
        conn,
        [
            {
                "at": now,
                "actor": by,
                "action": "acknowledge",
                "entity": "alert",
                "entity_key": str(alert_id),
                "cause": None,
                "detail": encode_detail(entry),
            }
        ],
    )
    return utc_values(row._mapping)
