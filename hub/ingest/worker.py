"""The hub's ingest thread: take batches, commit, ack; on SQLite, project between them.

Order of work (DESIGN.md §2-3):
1. Take what the consumer queued, up to ``batch_max_messages`` or ``batch_wait_ms``.
2. Triage it before the database (triage.py): a message that breaks the contract becomes
   a dead letter; scans are grouped per agent.
3. One transaction: dead letters, heartbeats and clocks, the scans of every stream in
   bulk, each watermark moved once, each agent's fleet row once. COMMIT.
4. PUBACK each message (``manual_ack``) in the order received, then publish each touched
   agent's retained ``ack``. Nothing is acked before its scans are committed.
5. Projection (reconcile/worker.py). On PostgreSQL it runs apart, in its own thread and
   connection: ingest only wakes it, and an ack never waits for a projection step. On
   SQLite, the one writer takes one bounded step here. Ingest comes first: while messages
   flow, steps take at most ``BUSY_STEP_SCANS``, and ``next_step_at`` (reconcile/worker.py)
   paces them, at most every 100 ms and, while ingest is flooded, a third of the
   writer's time, so acks keep flowing
   (each step is a transaction and an fsync of its own: one after every batch cut the
   hub's sustained single-scan rate by a third in bench/e2e_bench.py; and with steps
   every 100 ms whatever they cost, the projector set the ack rate of a flood). The records
   still progress, and catch up in whole steps of ``projection_step_scans`` once no batch
   has come for ``QUIET_S``; such a step stops early (projector.py rule 3) as soon as a
   message lands, so a drain's next message waits for about a hundred scans, not the whole
   step. That is what lets a catch-up step be large: 5,000 scans a step projected 103,000
   interleaved scans 26-30% faster than 1,000 in-process (fewer commits, and rows changed
   by many scans are written once). The timed checks (reconcile/checks.py) run here too
   on SQLite, every 30 s.

Failures, mapped at the edge (hub/store/db.py ``mapped``):
- ``DatabaseUnavailable``: nothing is acked. The same batch is retried with backoff until
  the database returns; meanwhile ``/healthz`` says unavailable, the bounded queue fills
  and the broker stops sending (Receive Maximum). The process never exits for it.
- ``BadData`` or a bug while writing a batch: the batch is written again one message per
  transaction, so only the message that carries the bad value becomes a dead letter.
"""

from __future__ import annotations

import functools
import queue
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Protocol

import structlog
from sqlalchemy.engine import Connection, Engine

from hub.checkpoints import Checkpoint, passing
from hub.clock import HubClock
from hub.domain.statuses import AlertKind, Severity
from hub.errors import BadData, DatabaseUnavailable
from hub.health import WriterHealth
from hub.ingest import inbox
from hub.ingest.fleet import Fleet
from hub.ingest.pacing import BUSY_STEP_SCANS, Pacer, Step
from hub.ingest.triage import DeadLetter, Message, Triage, agent_of, triage
from hub.ingest.web_writes import Job, Waiting
from hub.metrics import Metrics, stage
from hub.reconcile.worker import ProjectionWorker
from hub.settings import IngestSettings
from hub.store.alerts import Alerts
from hub.store.db import mapped, storable
from hub.store.retry import Patience
from hub.store.tables import dead_letters
from protocol import codec
from protocol.messages import HubAck, ScanEvent
from protocol.topics import Topic

log = structlog.get_logger("hub.worker")


class Broker(Protocol):
    """What ingest asks of the broker (consumer.py in the product, a recording fake in
    tests): PUBACK a message it took, and publish an agent's retained ack."""

    def ack(self, message: Message) -> None: ...

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None: ...


MAX_DEAD_LETTER_CHARS = 64 * 1024


class IngestWorker:
    def __init__(
        self,
        engine: Engine,
        consumer: Broker,
        messages: Waiting,
        topic_prefix: str,
        settings: IngestSettings,
        projection: ProjectionWorker,
        apart: bool = False,
        metrics: Metrics | None = None,
        clock: HubClock | None = None,
        checkpoint: Checkpoint = passing,
    ) -> None:
        """``apart``: the projection runs in its own thread (PostgreSQL); otherwise this
        thread projects between batches (SQLite)."""
        self._engine = engine
        self._clock = clock or HubClock()
        self._metrics = metrics or Metrics()
        self._consumer = consumer
        self._messages = messages
        self._prefix = topic_prefix
        self._settings = settings
        self._checkpoint = checkpoint
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="writer", daemon=True)
        self._batches = 0
        self._fleet = Fleet(settings.clock_skew_alert_s)
        self.projection = projection
        self.apart = apart
        self._pacer = Pacer()
        self.health = WriterHealth()
        self._patience = Patience(self._stopping, self._down, self._up)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=15)

    def _run(self) -> None:
        while not self._stopping.is_set():
            batch, changes = self._collect()
            if batch:
                self._patience.run(functools.partial(self.process, batch))
                self._pacer.batch_done(time.monotonic())
            for change in changes:  # after the batch: its acks wait for no API change
                change.run(self._engine)
            if self.apart:
                continue
            step = self._pacer.step_due(time.monotonic(), self._has_work())
            if step is not None:
                self._patience.run(functools.partial(self.project, busy=step is Step.BUSY))
            if self.projection.checks.due():
                self._patience.run(self._check)

    def _check(self) -> int:
        return self.projection.checks.run(self._clock.now())

    def _down(self, exc: DatabaseUnavailable) -> None:
        self._metrics.database_errors.labels("unavailable").inc()
        if self.health.database == "ok":
            log.error("database.unavailable", error=str(exc))
            self.health = WriterHealth("unavailable", str(exc), datetime.now(UTC))
        self.projection.recent.clear()

    def _up(self) -> None:
        if self.health.database != "ok":
            log.info("database.available")
            self.health = WriterHealth()

    def _collect(self) -> tuple[list[Message], list[Job]]:
        """A batch of messages; and a change from the API, which ends the batch early."""
        try:
            first = self._messages.get(timeout=self._pacer.wait_for_messages(time.monotonic()))
        except queue.Empty:
            return [], []
        if isinstance(first, Job):
            return [], [first]
        batch = [first]
        deadline = time.monotonic() + self._settings.batch_wait_ms / 1000
        while len(batch) < self._settings.batch_max_messages:
            remaining = deadline - time.monotonic()
            try:
                got = (
                    self._messages.get(timeout=remaining)
                    if remaining > 0
                    else self._messages.get_nowait()
                )
            except queue.Empty:
                break
            if isinstance(got, Job):
                return batch, [got]
            batch.append(got)
        return batch, []

    # -- ingest: the ack path ----------------------------------------------------------------

    def process(self, batch: list[Message]) -> None:
        """Store a batch, commit, then ack it."""
        self._batches += 1
        try:
            progress = self._transaction(triage(batch, self._prefix))
        except DatabaseUnavailable:
            raise
        except Exception:  # BadData, or a bug: find the one message that carries it
            log.exception("ingest.batch_failed", messages=len(batch))
            self._metrics.database_errors.labels("bad_data").inc()
            progress = {}
            for message in batch:
                progress.update(self._one(message))
        self._checkpoint("after_commit", self._batches)
        for message in batch:
            self._consumer.ack(message)
        for stream in progress.values():
            ack = HubAck(
                agent_id=stream.agent_id,
                incarnation=stream.incarnation,
                confirmed_seq=stream.confirmed_seq,
                resend_from=stream.resend_from,
                resend_to=stream.resend_to,
                conflict_seq=stream.conflict_seq,
                hub_time=self._clock.now(),
            )
            topic = str(Topic(self._prefix, stream.agent_id, "ack"))
            self._consumer.publish(topic, codec.encode(ack), qos=1, retain=True)

    def _one(self, message: Message) -> dict[tuple[str, str], inbox.StreamProgress]:
        try:
            return self._transaction(triage([message], self._prefix))
        except DatabaseUnavailable:
            raise
        except Exception as exc:
            reason = "bad_data" if isinstance(exc, BadData) else "internal_error"
            detail = f"{type(exc).__name__}: {exc}"[:2000]
            dead = DeadLetter(message, reason, detail, agent_of(message, self._prefix))
            try:
                self._transaction(Triage(dead=[dead]))
            except BadData as refused:
                # Not even as a dead letter: keep that it came and why, without its bytes,
                # rather than let the writer thread die on it.
                log.error("ingest.dead_letter_refused", topic=message.topic, error=str(refused))
                bare = replace(message, payload=b"")
                why = f"{detail}; its payload could not be stored ({refused})"
                self._transaction(Triage(dead=[replace(dead, message=bare, detail=why)]))
            return {}

    def _transaction(self, work: Triage) -> dict[tuple[str, str], inbox.StreamProgress]:
        try:
            return self._store(work)
        except Exception:
            self._fleet.forget()  # estimates read or set in the rolled-back transaction
            raise

    def _store(self, work: Triage) -> dict[tuple[str, str], inbox.StreamProgress]:
        with stage("ingest"), mapped(), self._engine.begin() as conn:
            now = self._clock.now()
            raised = Alerts(now)
            self._dead_letters(conn, work.dead, raised, now)
            for agent_id, text in self._fleet.record_healths(conn, work.healths.values()):
                raised.add(Severity.MEDIUM, AlertKind.CLOCK_SKEW, agent_id, text)
            self._fleet.record_statuses(conn, work.statuses.values(), now)
            stored = inbox.store(
                conn,
                work.scans,
                now,
                lambda event: self._fleet.event_at(conn, event),
                work.arrival,
            )
            self._flag_conflicts([*work.conflicts, *stored.conflicts], raised)
            if stored.held_elsewhere:
                log.info("ingest.held_elsewhere", scans=stored.held_elsewhere)
            synced = self._flag_unsynced([event for event, _ in stored.new], raised)
            seen = {agent: inc for agent, inc in work.scans}
            self._fleet.record_seen(conn, seen, synced, now)
            raised.write(conn)
            self._checkpoint("before_commit", self._batches)
        self.projection.recent.add(stored.new)  # committed: hand the scans over
        self._metrics.scans.inc(len(stored.new))
        for letter in work.dead:
            self._metrics.dead_letters.labels(letter.reason).inc()
        if stored.new:
            if not self.apart:
                self._pacer.scans_stored()
            self.projection.wake()
        return {(p.agent_id, p.incarnation): p for p in stored.progress}

    def _dead_letters(
        self, conn: Connection, dead: list[DeadLetter], raised: Alerts, now: datetime
    ) -> None:
        rows = []
        for letter in dead:
            message = letter.message
            log.warning(
                "ingest.dead_letter",
                topic=message.topic,
                reason=letter.reason,
                detail=letter.detail,
            )
            rows.append(
                {
                    "received_at": message.arrived_at,
                    "topic": storable(message.topic[:1024]),
                    "agent_id": letter.agent_id,
                    "reason": letter.reason,
                    "detail": storable(letter.detail),
                    "payload": storable(
                        message.payload[:MAX_DEAD_LETTER_CHARS].decode(
                            "utf-8", errors="backslashreplace"
                        )
                    ),
                    "payload_bytes": len(message.payload),
                }
            )
            if letter.reason == "agent_mismatch":
                raised.add(Severity.HIGH, AlertKind.SPOOFED_SENDER, letter.agent_id, letter.detail)
        if rows:
            conn.execute(dead_letters.insert(), rows)

    @staticmethod
    def _flag_conflicts(events: list[ScanEvent], raised: Alerts) -> None:
        """One open alert per stream whose seqs came again with other content."""
        first: dict[tuple[str, str], ScanEvent] = {}
        for event in events:
            first.setdefault((event.agent_id, event.incarnation), event)
        for (agent_id, incarnation), event in first.items():
            raised.add(
                Severity.HIGH,
                AlertKind.SEQ_CONFLICT,
                agent_id,
                f"seq {event.seq} of incarnation {incarnation} arrived again with different "
                "content; the first version is kept. If the station's storage was restored "
                "or replaced, it re-sends its scans under a new numbering by itself; if not, "
                "someone may be sending as this station: check its credentials",
                condition=f"{agent_id}:{incarnation}",
            )

    def _flag_unsynced(self, events: list[ScanEvent], raised: Alerts) -> dict[str, bool]:
        """Scans taken with the clock not synced keep their times (the hub cannot know the
        error unless heartbeats show a skew): one open alert per station, not one per boot
        (a station that boots unsynced every morning is one condition). Returns whether
        each station's newest scan was synced: the timed checks resolve the alert by it."""
        newest: dict[str, ScanEvent] = {}
        raised_for: set[str] = set()  # this transaction's, once each
        for event in events:
            if not event.clock_synced and event.agent_id not in raised_for:
                raised_for.add(event.agent_id)
                raised.add(
                    Severity.LOW,
                    AlertKind.CLOCK_UNSYNCED,
                    event.agent_id,
                    f"scans from seq {event.seq} on were taken with the clock "
                    "not synced: their event times may be off, and so may their order against "
                    "other stations' scans",
                    condition=event.agent_id,
                )
            newest[event.agent_id] = event
        return {agent_id: event.clock_synced for agent_id, event in newest.items()}

    # -- projection -----------------------------------------------------------------------------

    def project(self, busy: bool = False) -> int:
        """One bounded projection step in this thread (SQLite); the scans projected.
        ``busy``: messages wait, so take at most ``BUSY_STEP_SCANS``; otherwise a catch-up
        step, which stops early when a message lands."""
        started = time.monotonic()
        if busy:
            projected = self.projection.step(BUSY_STEP_SCANS)
        else:
            projected = self.projection.step(yield_to=self._has_work)
        self._pacer.stepped(started, time.monotonic() - started, self.flooded(), projected)
        return projected

    def _has_work(self) -> bool:
        return not self._messages.empty()

    def flooded(self) -> bool:
        """More messages wait than half a batch: the agents send faster than ingest takes."""
        return self._messages.qsize() >= self._settings.batch_max_messages // 2
