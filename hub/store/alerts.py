"""The one writer of alerts. Everything the hub raises (the record rules, ingest's checks,
a scan the projector set aside) is collected here through a transaction, logged, and
stored with it; and what the hub resolves when a condition ends (a case began, a clock
synced again, missing scans arrived) is resolved here, saying when and why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection

from hub.store.tables import alerts
from protocol.messages import MAX_RAW_CHARS

log = structlog.get_logger("hub.alerts")

MAX_DETAIL_CHARS = 2000  # a detail names codes and scans; a spoofed one must not fill the disk


class Alerts:
    """One transaction's alerts, stored by ``write`` in the same transaction."""

    def __init__(self, now: datetime) -> None:
        self.now = now  # one transaction, one time
        self.rows: list[dict[str, Any]] = []

    def add(
        self,
        severity: str,
        kind: str,
        agent_id: str | None,
        detail: str,
        subject: str | None = None,
    ) -> None:
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
                "subject": subject[:MAX_RAW_CHARS] if subject else None,
            }
        )

    def write(self, conn: Connection) -> None:
        if self.rows:
            conn.execute(alerts.insert(), self.rows)


@dataclass(frozen=True)
class OpenAlert:
    id: int
    agent_id: str | None
    subject: str | None


def open_of_kind(conn: Connection, kind: str) -> list[OpenAlert]:
    """Alerts of ``kind`` the hub has not resolved (acknowledged ones too: a person saw it,
    the condition may still hold)."""
    a = alerts.c
    rows = conn.execute(
        sa.select(a.id, a.agent_id, a.subject).where(a.kind == kind, a.resolved_at.is_(None))
    )
    return [OpenAlert(row.id, row.agent_id, row.subject) for row in rows]


def resolve(conn: Connection, ids: list[int], reason: str, now: datetime) -> None:
    """Mark alerts resolved by the hub: their condition ended, for ``reason``."""
    if ids:
        log.info("alert.resolved", ids=ids, reason=reason)
        conn.execute(
            sa.update(alerts)
            .where(alerts.c.id.in_(ids), alerts.c.resolved_at.is_(None))
            .values(resolved_at=now, resolved_reason=reason[:MAX_DETAIL_CHARS])
        )
