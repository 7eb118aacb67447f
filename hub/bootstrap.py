"""The hub's composition root."""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field

import structlog
from fastapi import FastAPI
from sqlalchemy.engine import Engine

from hub.ingest.consumer import Consumer, Message
from hub.ingest.worker import IngestWorker
from hub.settings import HubSettings
from hub.store.db import create_engine, migrate
from hub.web.app import create_app

log = structlog.get_logger("hub")


@dataclass
class Hub:
    settings: HubSettings
    engine: Engine
    consumer: Consumer
    worker: IngestWorker
    api: FastAPI
    failed: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        migrate(self.engine)
        self.worker.start()
        self.consumer.start()
        log.info("hub.started", database=self.engine.url.render_as_string(hide_password=True))

    def stop(self) -> None:
        self.consumer.stop()
        self.worker.stop()
        self.engine.dispose()


def bootstrap(settings: HubSettings) -> Hub:
    engine = create_engine(settings.database_url)
    messages: queue.Queue[Message] = queue.Queue()
    consumer = Consumer(settings.mqtt, messages)
    failed = threading.Event()

    def on_fatal(exc: BaseException) -> None:
        # Stop taking messages: unacked ones are redelivered to the next hub process.
        consumer.stop()
        failed.set()

    worker = IngestWorker(
        engine,
        consumer,
        messages,
        settings.mqtt.topic_prefix,
        settings.ingest,
        settings.faults,
        on_fatal,
    )
    return Hub(settings, engine, consumer, worker, create_app(engine), failed)
