"""The hub's composition root."""

from __future__ import annotations

from dataclasses import dataclass, replace

import structlog
from fastapi import FastAPI
from sqlalchemy.engine import Engine

from hub.checkpoints import Checkpoint, passing
from hub.clock import HubClock
from hub.cluster.leadership import Leadership, Leading, Solo, default_name
from hub.ingest import manual
from hub.ingest.consumer import Consumer, bounded_queue
from hub.ingest.replay import replayer
from hub.ingest.web_writes import ThroughWriter
from hub.ingest.worker import IngestWorker
from hub.metrics import Metrics
from hub.notice import BlockedNotice
from hub.reconcile.apply import Reconciler
from hub.reconcile.checks import TimedChecks
from hub.reconcile.unit import Tables
from hub.reconcile.worker import ProjectionWorker
from hub.settings import HubSettings
from hub.store.db import create_engine, migrate
from hub.store.writing import direct
from hub.web.app import create_app
from hub.web.context import IngestPorts

log = structlog.get_logger("hub")


@dataclass
class Hub:
    settings: HubSettings
    engine: Engine
    consumer: Consumer
    worker: IngestWorker
    projection: ProjectionWorker
    api: FastAPI
    notice: BlockedNotice
    leadership: Leading

    def start(self) -> None:
        migrate(self.engine)
        self.leadership.start()
        if self.worker.apart:
            self.projection.start()
        self.worker.start()
        self.consumer.start()
        self.notice.start()
        log.info("hub.started", database=self.engine.url.render_as_string(hide_password=True))

    def stop(self) -> None:
        self.notice.stop()
        self.consumer.stop()
        self.worker.stop()
        self.projection.stop()
        self.leadership.stop()
        self.engine.dispose()


def bootstrap(
    settings: HubSettings, clock: HubClock | None = None, checkpoint: Checkpoint = passing
) -> Hub:
    """``clock`` and ``checkpoint``: the fault harness's (tests/harness/faulty_hub.py)."""
    engine = create_engine(settings.database_url)
    metrics = Metrics()
    metrics.watch(engine)
    messages = bounded_queue(settings.mqtt)
    clock = clock or HubClock()
    consumer = Consumer(settings.mqtt, messages, clock, settings.cluster.shared_group)
    # SQLite takes one writer: the API's changes go through the ingest thread.
    sqlite = engine.dialect.name == "sqlite"
    name = settings.cluster.hub_name or default_name(settings.api.port)
    leadership: Leading = (
        Solo(name)
        if sqlite
        else Leadership(
            engine, name, settings.cluster.leader_check_s, became_leader=lambda: projection.wake()
        )
    )
    projection = ProjectionWorker(
        engine,
        Reconciler(Tables.live(), decode_rules=settings.decode, policy=settings.records.policy()),
        settings.ingest,
        TimedChecks(engine, settings.ingest, settings.records),
        metrics,
        ingest_flooded=lambda: worker.flooded(),
        clock=clock,
        checkpoint=checkpoint,
        leading=leadership.leading,
    )
    write = ThroughWriter(messages) if sqlite else direct(engine)
    worker = IngestWorker(
        engine,
        consumer,
        messages,
        settings.mqtt.topic_prefix,
        settings.ingest,
        projection,
        # PostgreSQL takes concurrent writers: projection apart, so acks never wait for
        # it. SQLite takes one: the ingest thread alternates (docs/delivery.md).
        apart=not sqlite,
        metrics=metrics,
        clock=clock,
        checkpoint=checkpoint,
    )
    return Hub(
        settings,
        engine,
        consumer,
        worker,
        projection,
        create_app(
            engine,
            lambda: replace(
                worker.health,
                set_aside=projection.set_aside,
                hub=leadership.name,
                role=leadership.role.value,
            ),
            settings.decode,
            settings.api,
            IngestPorts(replayer(settings.mqtt.topic_prefix), manual.enter),
            metrics,
            settings.site,
            write,
        ),
        BlockedNotice(engine, consumer.publish, settings.mqtt.topic_prefix),
        leadership,
    )
