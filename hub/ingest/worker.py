"""The hub's one writer thread: ingest batches, commit, ack; project between them.

Order of work (DESIGN.md §2-3):
1. Take what the consumer queued, up to ``batch_max_messages`` or ``batch_wait_ms``.
2. Triage it before the database (triage.py): a message that breaks the contract becomes
   a dead letter; scans are grouped per agent.
3. One transaction: dead letters, heartbeats and clocks, the scans of every stream in
   bulk, each watermark moved once, each agent's fleet row once. COMMIT.
4. PUBACK each message (``manual_ack``) in the order received, then publish each touched
   agent's retained ``ack``. Nothing is acked before its scans are committed.
5. One bounded projection step (projector.py). Ingest comes first: while messages flow,
   steps take at most ``BUSY_STEP_SCANS`` and run at most every ``BUSY_STEP_EVERY_S``,
   so acks keep flowing (each step is a transaction and an fsync of
   its own: one after every batch cut the hub's sustained single-scan rate by a third in
   bench/e2e_bench.py). The records still progress, and catch up in whole steps of
   ``projection_step_scans`` once no batch has come for ``QUIET_S``; such a step stops
   early (projector.py rule 3) as soon as a message lands, so a drain's next message waits
   for about a hundred scans, not the whole step. That is what lets a catch-up step be
   large: 5,000 scans a step projected 103,000 interleaved scans 26-30% faster than 1,000
   in-process (fewer commits, and rows changed by many scans are written once).

Failures, mapped at the edge (hub/store/db.py ``mapped``):
- ``DatabaseUnavailable``: nothing is acked. The same batch is retried with backoff until
  the database returns; meanwhile ``/healthz`` says unavailable, the bounded queue fills
  and the broker stops sending (Receive Maximum). The process never exits for it.
- ``BadData`` or a bug while writing a batch: the batch is written again one message per
  transaction, so only the message that carries the bad value becomes a dead letter.
"""

from __future__ import annotations

import functools
import os
import queue
import random
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection, Engine

from hub.errors import BadData, DatabaseUnavailable
from hub.health import WriterHealth
from hub.ingest import inbox
from hub.ingest.consumer import Consumer
from hub.ingest.fleet import Fleet
from hub.ingest.triage import DeadLetter, Message, Triage, agent_of, triage
from hub.metrics import Metrics
from hub.reconcile.apply import Reconciler, Tables
from hub.reconcile.projector import Projector, Recent
from hub.settings import FaultSettings, IngestSettings, RecordSettings
from hub.store import due
from hub.store.alerts import Alerts, open_of_kind, resolve
from hub.store.db import mapped
from hub.store.tables import agent_streams, dead_letters
from protocol import codec
from protocol.messages import HubAck, ScanEvent
from protocol.topics import Topic

log = structlog.get_logger("hub.worker")

MAX_DEAD_LETTER_CHARS = 64 * 1024
GAP_CHECK_S = 30.0
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 10.0
BUSY_STEP_EVERY_S = 0.1
BUSY_STEP_SCANS = 100  # about 10 ms of rules: what an ack may wait for while messages flow
QUIET_S = 0.05  # no batch for this long: the agents are quiet, project in whole steps

T = TypeVar("T")


# Why an overdue alert ended when its asset is no longer overdue.
RESOLVED_BY = {
    "inspection_overdue": "the asset was inspected or retired",
    "loan_overdue": "the equipment came back",
}


class IngestWorker:
    def __init__(
        self,
        engine: Engine,
        consumer: Consumer,
        messages: queue.Queue[Message],
        topic_prefix: str,
        settings: IngestSettings,
        faults: FaultSettings,
        reconciler: Reconciler | None = None,
        records: RecordSettings | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._engine = engine
        self._metrics = metrics or Metrics()
        self._consumer = consumer
        self._messages = messages
        self._prefix = topic_prefix
        self._settings = settings
        self._faults = faults
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="writer", daemon=True)
        self._batches = 0
        self._fleet = Fleet(settings.clock_skew_alert_s)
        self._projector = Projector(reconciler or Reconciler(Tables.live()))
        self._recent = Recent()
        self._lagging = False
        self._stepped_at = 0.0
        self._batch_at = 0.0
        self._gaps_checked_at = 0.0
        self._gaps_alerted: set[tuple[str, str, str]] = set()
        self._readiness_lead = timedelta(minutes=(records or RecordSettings()).readiness_lead_min)
        self._due_alerted: set[str] = set()  # cases, and assets with their due date
        self._unsynced_alerted: set[str] = set()
        self.health = WriterHealth()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=15)

    def _run(self) -> None:
        while not self._stopping.is_set():
            batch = self._collect()
            if batch:
                self._retrying(functools.partial(self.process, batch))
            now = time.monotonic()
            if batch:
                self._batch_at = now
            if not self._has_work() and now >= self._batch_at + QUIET_S:
                self._retrying(self.project)
            elif now >= self._stepped_at + BUSY_STEP_EVERY_S:
                self._retrying(functools.partial(self.project, busy=True))
            if time.monotonic() >= self._gaps_checked_at + GAP_CHECK_S:
                self._retrying(lambda: self.check_gaps(datetime.now(UTC)))
                self._retrying(lambda: self.check_readiness(datetime.now(UTC)))
                self._retrying(lambda: self.check_overdue(datetime.now(UTC)))

    def _retrying(self, work: Callable[[], T]) -> T | None:
        """Run ``work`` until the database takes it, backing off while it is unavailable."""
        delay = RETRY_FIRST_S
        while not self._stopping.is_set():
            try:
                result = work()
            except DatabaseUnavailable as exc:
                self._metrics.database_errors.labels("unavailable").inc()
                if self.health.database == "ok":
                    log.error("database.unavailable", error=str(exc))
                    self.health = WriterHealth("unavailable", str(exc), datetime.now(UTC))
                self._fleet.forget()
                self._recent.clear()
                self._stopping.wait(delay * random.uniform(0.5, 1.0))
                delay = min(delay * 2, RETRY_MAX_S)
                continue
            if self.health.database != "ok":
                log.info("database.available")
                self.health = WriterHealth(set_aside=self.health.set_aside)
            return result
        return None

    def _collect(self) -> list[Message]:
        # While the records lag, do not sit waiting for messages: project instead.
        due = min(self._batch_at + QUIET_S, self._stepped_at + BUSY_STEP_EVERY_S)
        try:
            first = self._messages.get(
                timeout=max(0.0, due - time.monotonic()) if self._lagging else 0.2
            )
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self._settings.batch_wait_ms / 1000
        while len(batch) < self._settings.batch_max_messages:
            remaining = deadline - time.monotonic()
            try:
                batch.append(
                    self._messages.get(timeout=remaining)
                    if remaining > 0
                    else self._messages.get_nowait()
                )
            except queue.Empty:
                break
        return batch

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
        self._crash_if("after_commit")
        for message in batch:
            self._consumer.ack(message)
        for stream in progress.values():
            ack = HubAck(
                agent_id=stream.agent_id,
                incarnation=stream.incarnation,
                confirmed_seq=stream.confirmed_seq,
                resend_from=stream.resend_from,
                resend_to=stream.resend_to,
                hub_time=datetime.now(UTC),
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
            self._transaction(Triage(dead=[dead]))
            return {}

    def _transaction(self, work: Triage) -> dict[tuple[str, str], inbox.StreamProgress]:
        with mapped(), self._engine.begin() as conn:
            now = datetime.now(UTC)
            raised = Alerts(now)
            self._dead_letters(conn, work.dead, raised, now)
            for agent_id, text in self._fleet.record_healths(conn, work.healths.values()):
                raised.add("medium", "clock_skew", agent_id, text)
            self._fleet.record_statuses(conn, work.statuses.values(), now)
            stored = inbox.store(
                conn,
                work.scans,
                now,
                lambda agent, boot: self._fleet.correction_s(conn, agent, boot),
                work.arrival,
            )
            for event in [*work.conflicts, *stored.conflicts]:
                raised.add(
                    "high",
                    "seq_conflict",
                    event.agent_id,
                    f"seq {event.seq} of incarnation {event.incarnation} arrived again with "
                    "different content; the first version is kept",
                )
            self._fleet.record_seen(conn, {agent: inc for agent, inc in work.scans}, now)
            self._flag_unsynced(conn, [event for event, _ in stored.new], raised)
            raised.write(conn)
            self._crash_if("before_commit")
        self._recent.add(stored.new)  # committed: count what it stored and set aside
        self._metrics.scans.inc(len(stored.new))
        for letter in work.dead:
            self._metrics.dead_letters.labels(letter.reason).inc()
        if stored.new:
            self._lagging = True
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
                    "topic": message.topic[:1024],
                    "agent_id": letter.agent_id,
                    "reason": letter.reason,
                    "detail": letter.detail,
                    "payload": message.payload[:MAX_DEAD_LETTER_CHARS].decode(
                        "utf-8", errors="backslashreplace"
                    ),
                    "payload_bytes": len(message.payload),
                }
            )
            if letter.reason == "agent_mismatch":
                raised.add("high", "spoofed_sender", letter.agent_id, letter.detail)
        if rows:
            conn.execute(dead_letters.insert(), rows)

    def _flag_unsynced(self, conn: Connection, events: list[ScanEvent], raised: Alerts) -> None:
        """Scans taken with the clock not synced keep their times (the hub cannot know the
        error unless heartbeats show a skew): one open alert per station, not one per boot
        (a station that boots unsynced every morning is one condition), resolved by the
        station's next scan taken with its clock synced."""
        for event in events:
            agent_id = event.agent_id
            if event.clock_synced:
                if agent_id in self._unsynced_alerted:
                    self._unsynced_alerted.discard(agent_id)
                    ids = [
                        a.id for a in open_of_kind(conn, "clock_unsynced") if a.agent_id == agent_id
                    ]
                    resolve(conn, ids, "the station's clock synced again", raised.now)
                continue
            if agent_id in self._unsynced_alerted:
                continue
            self._unsynced_alerted.add(agent_id)
            if any(a.agent_id == agent_id for a in open_of_kind(conn, "clock_unsynced")):
                continue  # still open from before this hub started
            raised.add(
                "low",
                "clock_unsynced",
                event.agent_id,
                f"scans from seq {event.seq} on were taken with the clock "
                "not synced: their event times may be off, and so may their order against "
                "other stations' scans",
            )

    # -- projection -----------------------------------------------------------------------------

    def project(self, busy: bool = False) -> int:
        """One bounded projection step in its own transaction; return the scans projected.
        ``busy``: messages wait, so take at most ``BUSY_STEP_SCANS``."""
        self._stepped_at = time.monotonic()
        full = self._settings.projection_step_scans
        with mapped(), self._engine.begin() as conn:
            if busy:
                step = self._projector.step(conn, self._recent, min(full, BUSY_STEP_SCANS))
            else:  # a catch-up step: it stops early when a message lands
                step = self._projector.step(conn, self._recent, full, yield_to=self._has_work)
        self._projector.committed()
        self.health.set_aside += step.set_aside
        self._lagging = step.projected > 0
        return step.projected

    def _has_work(self) -> bool:
        return not self._messages.empty()

    # -- housekeeping -----------------------------------------------------------------------------

    def check_gaps(self, now: datetime) -> int:
        """Alert once for each seq gap open longer than ``gap_alert_min`` (the agent did not
        fill it: its store may have lost rows, or its resends are refused). Once per gap
        per hub process: a restarted hub reminds operators of gaps still open."""
        self._gaps_checked_at = time.monotonic()
        limit = now - timedelta(minutes=self._settings.gap_alert_min)
        raised = Alerts(now)
        with mapped(), self._engine.begin() as conn:
            stale = conn.execute(
                sa.select(agent_streams).where(
                    agent_streams.c.gap_since.is_not(None), agent_streams.c.gap_since < limit
                )
            ).all()
            for row in stale:
                key = (row.agent_id, row.incarnation, str(row.gap_since))
                if key in self._gaps_alerted:
                    continue
                self._gaps_alerted.add(key)
                raised.add(
                    "medium",
                    "gap_open",
                    row.agent_id,
                    f"seqs {row.confirmed_seq + 1}..{row.max_seen_seq - 1} of incarnation "
                    f"{row.incarnation} missing since {row.gap_since}; later scans wait for them",
                )
            gapped = set(
                conn.execute(
                    sa.select(agent_streams.c.agent_id).where(
                        agent_streams.c.gap_since.is_not(None)
                    )
                ).scalars()
            )
            filled = [a.id for a in open_of_kind(conn, "gap_open") if a.agent_id not in gapped]
            resolve(conn, filled, "the missing scans arrived", now)
            raised.write(conn)
        return len(raised.rows)

    def check_readiness(self, now: datetime) -> int:
        """Alert once per case per hub process when a case starts within the readiness
        lead and a tray on its preference card is not sterile from a released load."""
        raised = Alerts(now)
        with mapped(), self._engine.begin() as conn:
            not_ready = due.not_ready(conn, now, self._readiness_lead)
            held = open_of_kind(conn, "case_not_ready")
            already = {a.subject for a in held}  # still open, from before a restart too
            for case in not_ready:
                if case.key not in self._due_alerted and case.key not in already:
                    self._due_alerted.add(case.key)
                    raised.add("high", "case_not_ready", None, case.detail, case.key)
            still = {case.key for case in not_ready}
            ended = [a for a in held if a.subject not in still]
            begun = due.begun(conn, [a.subject for a in ended if a.subject])
            for reason, ids in (
                ("the case began", [a.id for a in ended if a.subject in begun]),
                (
                    "every tray it needs is ready, or its start has passed",
                    [a.id for a in ended if a.subject not in begun],
                ),
            ):
                resolve(conn, ids, reason, now)
            raised.write(conn)
        return len(raised.rows)

    def check_overdue(self, now: datetime) -> int:
        """Alert once per asset and due date per hub process when an inspection is overdue,
        and once per loan when it is out past its due-back time."""
        raised = Alerts(now)
        with mapped(), self._engine.begin() as conn:
            for kind, found in (
                ("inspection_overdue", due.overdue_inspections(conn, now)),
                ("loan_overdue", due.overdue_loans(conn, now)),
            ):
                held = open_of_kind(conn, kind)
                already = {a.subject for a in held}  # still open, from before a restart too
                for what in found:
                    asset = what.facts["asset"]
                    if what.key not in self._due_alerted and asset not in already:
                        self._due_alerted.add(what.key)
                        raised.add("medium", kind, None, what.detail, asset)
                still = {what.facts["asset"] for what in found}
                ended = [a.id for a in held if a.subject not in still]
                resolve(conn, ended, RESOLVED_BY[kind], now)
            raised.write(conn)
        return len(raised.rows)

    def _crash_if(self, point: str) -> None:
        if self._faults.crash_point == point and self._batches >= self._faults.crash_after_batches:
            log.warning("fault.crash", point=point)
            os.kill(os.getpid(), signal.SIGKILL)
