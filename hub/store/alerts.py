"""The one writer of alerts. Everything the hub raises (the record rules, ingest's checks,
a scan the projector set aside) is collected here through a transaction, logged, and
stored with it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.engine import Connection

from hub.store.tables import alerts

log = structlog.get_logger("hub.alerts")

MAX_DETAIL_CHARS = 2000  # a detail names codes and scans; a spoofed one must not fill the disk


class Alerts:
    """One transaction's alerts, stored by ``write`` in the same transaction."""

    def __init__(self, now: datetime) -> None:
        self.now = now  # one transaction, one time
        self.rows: list[dict[str, Any]] = []

    def add(self, severity: str, kind: str, agent_id: str | None, detail: str) -> None:
        # A warning, whatever the severity: an alert is news for a person, not a fault of
        # the hub (a bench or a quiet deployment filters at error and still sees faults).
        log.warning("alert.raised", severity=severity, kind=kind, agent_id=agent_id, detail=detail)
        self.rows.append(
            {
                "created_at": self.now,
                "severity": severity,
                "kind": kind,
                "agent_id": agent_id,
                "detail": detail[:MAX_DETAIL_CHARS],
            }
        )

    def write(self, conn: Connection) -> None:
        if self.rows:
            conn.execute(alerts.insert(), self.rows)
