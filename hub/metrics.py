"""Prometheus metrics, served at ``/metrics`` (prometheus-client's text format).

Two kinds:
- counters the hub moves as it works: scans ingested, dead letters by reason, database
  errors by kind, database calls by stage, and API request latencies by route. They count
  in this process since it started, as Prometheus counters do.
- gauges read from the database when scraped: the projection lag, each agent's backlog,
  unconfirmed seqs and silence, open alerts by severity. Read at scrape time, so every
  hub process sharing a database reports the same state, and nothing is cached.

Each ``Metrics`` has its own registry (not prometheus-client's global one), so tests and
several apps in one process never collide.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from hub.store import queries
from hub.store.tables import alerts

_stage = threading.local()  # what the current thread is doing, for ``database_calls``


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Count the database calls made inside as the ``name`` stage's."""
    was = getattr(_stage, "name", "other")
    _stage.name = name
    try:
        yield
    finally:
        _stage.name = was


CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.scans = Counter(
            "scantrail_scans_ingested", "Scans new to the scan log.", registry=self.registry
        )
        self.dead_letters = Counter(
            "scantrail_dead_letters",
            "Messages set aside as dead letters, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.database_errors = Counter(
            "scantrail_database_errors",
            "Database failures: unavailable (nothing acked, retried) or bad_data (set aside).",
            ["kind"],
            registry=self.registry,
        )
        self.database_calls = Counter(
            "scantrail_database_calls",
            "Calls to the database (BEGIN, each statement or executemany, COMMIT, ROLLBACK), "
            "by the stage that made them: ingest, projection or other (pages, API, notice).",
            ["stage"],
            registry=self.registry,
        )
        self.requests = Histogram(
            "scantrail_http_request_duration_seconds",
            "API and dashboard requests, by method, route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )

    def watch(self, engine: Engine) -> None:
        """Read the database's state at each scrape, and count the calls made to it."""
        self.registry.register(_State(engine))
        calls = self.database_calls

        def call(*_: Any) -> None:
            calls.labels(getattr(_stage, "name", "other")).inc()

        # One round trip each, near enough: psycopg sends an executemany's rows in one
        # pipeline, and on PostgreSQL BEGIN is sent before the first statement.
        for event in ("begin", "commit", "rollback", "before_cursor_execute"):
            sa.event.listen(engine, event, call)

    def render(self) -> bytes:
        rendered: bytes = generate_latest(self.registry)
        return rendered


class _State(Collector):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = datetime.now(UTC)
        try:
            with self._engine.connect() as conn:
                projection = queries.projection(conn, now)
                fleet = queries.fleet(conn)
                open_alerts: dict[str, int] = dict(
                    conn.execute(
                        sa.select(alerts.c.severity, sa.func.count())
                        .where(alerts.c.acknowledged_at.is_(None))
                        .group_by(alerts.c.severity)
                    ).all()
                )
        except SQLAlchemyError:
            up = GaugeMetricFamily("scantrail_database_up", "1 when the hub can read its database.")
            up.add_metric([], 0)
            yield up
            return
        up = GaugeMetricFamily("scantrail_database_up", "1 when the hub can read its database.")
        up.add_metric([], 1)
        yield up
        lag = GaugeMetricFamily(
            "scantrail_projection_lag_scans", "Scans stored and not yet in the records."
        )
        lag.add_metric([], projection["lag_scans"])
        yield lag
        oldest = GaugeMetricFamily(
            "scantrail_projection_lag_seconds", "How long the oldest unprojected scan has waited."
        )
        oldest.add_metric([], projection["oldest_unprojected_age_s"])
        yield oldest
        yield from _agents(fleet, now)
        by_severity = GaugeMetricFamily(
            "scantrail_alerts_open", "Alerts nobody acknowledged, by severity.", labels=["severity"]
        )
        for severity in ("low", "medium", "high"):
            by_severity.add_metric([severity], open_alerts.get(severity, 0))
        yield by_severity


def _agents(fleet: list[dict[str, Any]], now: datetime) -> Iterator[GaugeMetricFamily]:
    """Per agent: what it still holds unconfirmed, what the hub holds above a gap, and how
    long since it was heard from."""
    backlog = GaugeMetricFamily(
        "scantrail_agent_backlog_scans",
        "Scans the agent reported holding unconfirmed (its last heartbeat).",
        labels=["agent"],
    )
    unconfirmed_age = GaugeMetricFamily(
        "scantrail_agent_oldest_unconfirmed_seconds",
        "Age of the agent's oldest unconfirmed scan (its last heartbeat).",
        labels=["agent"],
    )
    held = GaugeMetricFamily(
        "scantrail_agent_held_above_gap_scans",
        "Seqs the hub has seen above the agent's confirmed watermark.",
        labels=["agent"],
    )
    silent = GaugeMetricFamily(
        "scantrail_agent_last_seen_seconds",
        "Seconds since the hub last heard from the agent.",
        labels=["agent"],
    )
    for agent in fleet:
        name = [str(agent["agent_id"])]
        if agent["backlog"] is not None:
            backlog.add_metric(name, float(agent["backlog"]))
        if agent["oldest_unconfirmed_age_s"] is not None:
            unconfirmed_age.add_metric(name, float(agent["oldest_unconfirmed_age_s"]))
        held.add_metric(name, float(agent["max_seen_seq"] - agent["confirmed_seq"]))
        if agent["last_seen_at"]:
            seen = datetime.fromisoformat(str(agent["last_seen_at"]))
            silent.add_metric(name, (now - seen).total_seconds())
    yield from (backlog, unconfirmed_age, held, silent)
