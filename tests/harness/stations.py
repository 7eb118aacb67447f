"""Scripted stations: the agent's real station rules produce the scans a test sends."""

from __future__ import annotations

import queue
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from agent.catalog import Catalog
from agent.session import Instant
from agent.station import Station
from agent.sterilizer.recorder import Recorder
from hub.ingest.triage import Message
from hub.ingest.web_writes import Waiting
from hub.ingest.worker import IngestWorker
from hub.metrics import Metrics
from hub.reconcile.apply import Reconciler
from hub.reconcile.checks import TimedChecks
from hub.reconcile.unit import Tables
from hub.reconcile.worker import ProjectionWorker
from hub.settings import IngestSettings
from hub.store.db import create_engine, migrate
from protocol import codec
from protocol.barcodes import DEFAULT_RULES
from protocol.messages import EventBatch, HubAck, ScanEvent

START = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)


class ScriptedStation:
    """One agent at one station; each ``scan`` is decided by ``agent.station.Station``."""

    def __init__(self, agent_id: str, mode: str, start: datetime = START) -> None:
        self.agent_id = agent_id
        self.station = Station(agent_id, mode, DEFAULT_RULES, allow_mode_change=True)
        self.state = self.station.initial()
        self.at = start
        self.seq = 0
        self.events: list[ScanEvent] = []
        self.catalog: Catalog | None = None  # the hub's reference snapshot, when given one

    def scan(self, *texts: str, gap: timedelta = timedelta(seconds=20)) -> list[ScanEvent]:
        made = []
        for text in texts:
            self.at += gap
            instant = Instant(self.at, int(self.at.timestamp() * 1e9), "boot-1", True)
            event_id = uuid.uuid4()
            verdict = self.station.consider(self.state, text, instant, str(event_id), self.catalog)
            self.state = verdict.state
            if not verdict.record:
                continue
            made.append(
                self._next(
                    event_id,
                    "test",
                    verdict.raw,
                    decoded=verdict.reading,
                    context=verdict.context,
                )
            )
        self.events.extend(made)
        return made

    def print_lines(
        self, recorder: Recorder, texts: Iterable[str], gap: timedelta = timedelta(seconds=1)
    ) -> list[ScanEvent]:
        """A sterilizer's lines, read by the agent's own recorder into this station's stream."""
        made = []
        for text in texts:
            self.at += gap
            event_id = uuid.uuid4()
            recorder.cycle, reading = recorder.line(recorder.cycle, text, str(event_id))
            made.append(self._next(event_id, "sterilizer", text, sterilizer=reading))
        self.events.extend(made)
        return made

    def _next(self, event_id: uuid.UUID, scanner_id: str, raw: str, **fields: Any) -> ScanEvent:
        """The station's next event, taken now (``self.at``)."""
        self.seq += 1
        return ScanEvent(
            event_id=event_id,
            agent_id=self.agent_id,
            incarnation="inc1",
            seq=self.seq,
            boot_id="boot-1",
            monotonic_ns=int(self.at.timestamp() * 1e9),
            scanned_at=self.at,
            clock_synced=True,
            scanner_id=scanner_id,
            raw=raw,
            **fields,
        )


class RecordingBroker:
    """The hub's broker port (hub/ingest/worker.py ``Broker``) as a list of what the
    writer did with it, in order: ``("puback", message)`` and ``("ack", HubAck)``. An
    ``on_puback`` callback sees each PUBACK as it happens."""

    def __init__(self) -> None:
        self.done: list[tuple[str, Any]] = []
        self.on_puback: Callable[[Message], None] | None = None

    def ack(self, message: Message) -> None:
        if self.on_puback is not None:
            self.on_puback(message)
        self.done.append(("puback", message))

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        assert topic.endswith("/ack") and qos == 1 and retain, (topic, qos, retain)
        self.done.append(("ack", codec.decode(HubAck, payload)))

    def acks(self) -> list[HubAck]:
        return [what for kind, what in self.done if kind == "ack"]


def message(events: list[ScanEvent]) -> Message:
    """One MQTT message of ``events``: on ``readings`` when they are a sterilizer's lines."""
    first = events[0]
    batch = EventBatch(agent_id=first.agent_id, incarnation=first.incarnation, events=tuple(events))
    kind = "readings" if all(e.sterilizer is not None for e in events) else "scans"
    topic = f"scantrail/v1/agents/{batch.agent_id}/{kind}"
    return Message(topic, codec.encode(batch), 0, 1, 0, datetime.now(UTC))


class HubUnderTest:
    """The hub's real writer (ingest transaction, watermark, projector) without MQTT."""

    def __init__(self, database_url: str, step_scans: int = 1000) -> None:
        self.engine = create_engine(database_url)
        migrate(self.engine)
        self.metrics = Metrics()  # the writer's counters, and the database's state
        self.metrics.watch(self.engine)
        self.messages: Waiting = queue.Queue()  # what the writer has waiting
        self.broker = RecordingBroker()
        settings = IngestSettings(projection_step_scans=step_scans)
        self.checks = TimedChecks(self.engine, settings)
        # Steps run in the test's thread, when it asks: the SQLite shape on either database.
        self.projection = ProjectionWorker(
            self.engine, Reconciler(Tables.live()), settings, self.checks, self.metrics
        )
        self.worker = IngestWorker(
            self.engine,
            self.broker,
            self.messages,
            "scantrail",
            settings,
            self.projection,
            metrics=self.metrics,
        )

    def deliver(self, *batches: Iterable[ScanEvent], project: bool = True) -> None:
        """One ingest transaction, then (unless told not to) projection steps until the
        records caught up."""
        self.worker.process([message(list(b)) for b in batches if list(b)])
        if project:
            self.project_all()

    def project_all(self) -> None:
        while self.worker.project():
            pass

    def project_with_a_message_waiting(self) -> int:
        """One catch-up step while a message waits for the writer; the scans projected."""
        self.messages.put(message([ScriptedStation("pi-late", "asset_move").scan("AST-X")[0]]))
        projected = self.worker.project()
        self.messages.get_nowait()
        return projected
