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

from hub.domain.statuses import AlertKind, Severity
from hub.store.db import insert_into, storable
from hub.store.tables import alerts
from protocol.messages import MAX_RAW_CHARS

log = structlog.get_logger("hub.alerts")

MAX_DETAIL_CHARS = 2000  # a detail names codes and scans; a spoofed one must not fill the disk
MAX_CONDITION_CHARS = 512  # alerts.condition


class Alerts:
    """One transaction's alerts, stored by ``write`` in the same transaction.

    An alert given a ``condition`` (its key: kind and what it is about) is raised once while
    that condition's alert is open. The database holds that promise (a unique index over
    open alerts' conditions, INSERT … ON CONFLICT DO NOTHING), so a transaction that rolled
    back, a restarted hub or another hub's writer neither loses nor repeats it."""

    def __init__(self, now: datetime) -> None:
        self.now = now  # one transaction, one time
        self.rows: list[dict[str, Any]] = []

    def add(
        self,
        severity: Severity,
        kind: AlertKind,
        agent_id: str | None,
        detail: str,
        subject: str | None = None,
        condition: str | None = None,
    ) -> None:
        self.rows.append(
            {
                "created_at": self.now,
                "severity": severity,
                "kind": kind,
                "agent_id": agent_id,
                "detail": storable(detail[:MAX_DETAIL_CHARS]),
                "subject": storable(subject[:MAX_RAW_CHARS]) if subject else None,
                "condition": f"{kind}:{condition}"[:MAX_CONDITION_CHARS] if condition else None,
            }
        )

    def write(self, conn: Connection) -> int:
        """Store the alerts; how many were new (an open alert's condition raises none)."""
        plain = [row for row in self.rows if row["condition"] is None]
        if plain:
            conn.execute(alerts.insert(), plain)
        stored = list(plain)
        once = (
            insert_into(conn, alerts)
            .on_conflict_do_nothing(
                index_elements=[alerts.c.condition], index_where=alerts.c.resolved_at.is_(None)
            )
            .returning(alerts.c.id)
        )
        for row in self.rows:
            if row["condition"] is not None and conn.execute(once, row).first() is not None:
                stored.append(row)
        for row in stored:
            # A warning, whatever the severity: an alert is news for a person, not a fault
            # of the hub (a bench or a quiet deployment filters at error and still sees faults).
            log.warning(
                "alert.raised",
                severity=row["severity"],
                kind=row["kind"],
                agent_id=row["agent_id"],
                detail=row["detail"],
            )
        return len(stored)


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
