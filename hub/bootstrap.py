"""The hub's composition root."""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from fastapi import FastAPI
from sqlalchemy.engine import Engine

from hub.ingest import manual
from hub.ingest.consumer import Consumer, bounded_queue
from hub.ingest.replay import replayer
from hub.ingest.worker import IngestWorker
from hub.metrics import Metrics
from hub.notice import BlockedNotice
from hub.reconcile.apply import Reconciler, Tables
from hub.settings import HubSettings
from hub.store.db import create_engine, migrate
from hub.web.app import create_app
from hub.web.writes import IngestPorts

log = structlog.get_logger("hub")


@dataclass
class Hub:
    settings: HubSettings
    engine: Engine
    consumer: Consumer
    worker: IngestWorker
    api: FastAPI
    notice: BlockedNotice

    def start(self) -> None:
        migrate(self.engine)
        self.worker.start()
        self.consumer.start()
        self.notice.start()
        log.info("hub.started", database=self.engine.url.render_as_string(hide_password=True))

    def stop(self) -> None:
        self.notice.stop()
        self.consumer.stop()
        self.worker.stop()
        self.engine.dispose()


def bootstrap(settings: HubSettings) -> Hub:
    engine = create_engine(settings.database_url)
    metrics = Metrics()
    metrics.watch(engine)
    messages = bounded_queue(settings.mqtt)
    consumer = Consumer(settings.mqtt, messages)
    worker = IngestWorker(
        engine,
        consumer,
        messages,
        settings.mqtt.topic_prefix,
        settings.ingest,
        settings.faults,
        Reconciler(Tables.live(), decode_rules=settings.decode, policy=settings.records.policy()),
        settings.records,
        metrics,
    )
    return Hub(
        settings,
        engine,
        consumer,
        worker,
        create_app(
            engine,
            lambda: worker.health,
            settings.decode,
            settings.api,
            IngestPorts(replayer(settings.mqtt.topic_prefix), manual.enter),
            metrics,
            settings.site,
        ),
        BlockedNotice(engine, consumer.publish, settings.mqtt.topic_prefix),
    )
