"""The timed checks: conditions no scan announces, found by looking at the clock.

- a seq gap an agent has left open longer than ``gap_alert_min``;
- a case starting within the readiness lead with a tray not sterile from a released load;
- an inspection overdue, a loan out past its due-back time;
- and a station's clock synced again, which ends its ``clock_unsynced``.

Each raises its alert once per condition (hub/store/alerts.py) and resolves it when the
condition ends (docs/records.md, "An alert's life"). They run every ``checks_every_s`` on the hub
that projects: on SQLite the one writer, between batches; on PostgreSQL the projection
worker, so with several hubs only the elected one runs them.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from hub.domain.statuses import AlertKind, Severity
from hub.settings import IngestSettings, RecordSettings
from hub.store import due
from hub.store.alerts import Alerts, open_of_kind, resolve
from hub.store.db import mapped
from hub.store.tables import agent_streams, agents

# Why an overdue alert ended when its asset is no longer overdue.
RESOLVED_BY = {
    AlertKind.INSPECTION_OVERDUE: "the asset was inspected or retired",
    AlertKind.LOAN_OVERDUE: "the equipment came back",
}


class TimedChecks:
    def __init__(
        self, engine: Engine, settings: IngestSettings, records: RecordSettings | None = None
    ) -> None:
        self._engine = engine
        self._settings = settings
        self._readiness_lead = timedelta(minutes=(records or RecordSettings()).readiness_lead_min)
        self._checked_at = 0.0

    def due(self) -> bool:
        return time.monotonic() >= self._checked_at + self._settings.checks_every_s

    def run(self, now: datetime) -> int:
        """Every check once; the alerts raised."""
        self._checked_at = time.monotonic()
        self.check_clocks(now)
        return self.check_gaps(now) + self.check_readiness(now) + self.check_overdue(now)

    def check_gaps(self, now: datetime) -> int:
        """Alert once for each seq gap open longer than ``gap_alert_min`` (the agent did not
        fill it: its store may have lost rows, or its resends are refused)."""
        limit = now - timedelta(minutes=self._settings.gap_alert_min)
        raised = Alerts(now)
        with mapped(), self._engine.begin() as conn:
            stale = conn.execute(
                sa.select(agent_streams).where(
                    agent_streams.c.gap_since.is_not(None), agent_streams.c.gap_since < limit
                )
            ).all()
            for row in stale:
                raised.add(
                    Severity.MEDIUM,
                    AlertKind.GAP_OPEN,
                    row.agent_id,
                    f"seqs {row.confirmed_seq + 1}..{row.max_seen_seq - 1} of incarnation "
                    f"{row.incarnation} missing since {row.gap_since}; later scans wait for them",
                    condition=f"{row.agent_id}:{row.incarnation}:{row.gap_since}",
                )
            gapped = set(
                conn.execute(
                    sa.select(agent_streams.c.agent_id).where(
                        agent_streams.c.gap_since.is_not(None)
                    )
                ).scalars()
            )
            filled = [
                a.id for a in open_of_kind(conn, AlertKind.GAP_OPEN) if a.agent_id not in gapped
            ]
            resolve(conn, filled, "the missing scans arrived", now)
            return raised.write(conn)

    def check_readiness(self, now: datetime) -> int:
        """Alert once per case when it starts within the readiness lead and a tray on its
        preference card is not sterile from a released load."""
        raised = Alerts(now)
        with mapped(), self._engine.begin() as conn:
            not_ready = due.not_ready(conn, now, self._readiness_lead)
            for case in not_ready:
                raised.add(
                    Severity.HIGH, AlertKind.CASE_NOT_READY, None, case.detail, case.key, case.key
                )
            still = {case.key for case in not_ready}
            ended = [
                a for a in open_of_kind(conn, AlertKind.CASE_NOT_READY) if a.subject not in still
            ]
            begun = due.begun(conn, [a.subject for a in ended if a.subject])
            for reason, ids in (
                ("the case began", [a.id for a in ended if a.subject in begun]),
                (
                    "every tray it needs is ready, or its start has passed",
                    [a.id for a in ended if a.subject not in begun],
                ),
            ):
                resolve(conn, ids, reason, now)
            return raised.write(conn)

    def check_overdue(self, now: datetime) -> int:
        """Alert once per asset and due date when an inspection is overdue, and once per
        loan when it is out past its due-back time."""
        raised = Alerts(now)
        with mapped(), self._engine.begin() as conn:
            for kind, found in (
                (AlertKind.INSPECTION_OVERDUE, due.overdue_inspections(conn, now)),
                (AlertKind.LOAN_OVERDUE, due.overdue_loans(conn, now)),
            ):
                for what in found:
                    raised.add(
                        Severity.MEDIUM, kind, None, what.detail, what.facts["asset"], what.key
                    )
                still = {what.facts["asset"] for what in found}
                ended = [a.id for a in open_of_kind(conn, kind) if a.subject not in still]
                resolve(conn, ended, RESOLVED_BY[kind], now)
            return raised.write(conn)

    def check_clocks(self, now: datetime) -> None:
        """Resolve a station's ``clock_unsynced`` once its newest scan was taken with its
        clock synced (ingest raises it, hub/ingest/worker.py)."""
        with mapped(), self._engine.begin() as conn:
            synced = set(
                conn.execute(
                    sa.select(agents.c.agent_id).where(agents.c.clock_synced.is_(True))
                ).scalars()
            )
            ids = [
                a.id for a in open_of_kind(conn, AlertKind.CLOCK_UNSYNCED) if a.agent_id in synced
            ]
            resolve(conn, ids, "the station's clock synced again", now)
