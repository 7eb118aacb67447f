"""The ingest worker: one transaction per batch of messages, commit, then ack.

Order of work for each batch (DESIGN.md §3):
1. Every message is handled inside its own SAVEPOINT, so one bad message never spoils
   the batch: it becomes a dead letter and the rest go on.
2. Reconcile the batch's newly contiguous scans in one pass, in its own SAVEPOINT.
3. COMMIT. Only now is anything acknowledged.
4. PUBACK each message to the broker (``manual_ack``), in the order received.
5. Publish each touched agent's retained ``ack`` with its watermark.

If the database fails the worker stops acking and reports a fatal error: the broker then
redelivers on reconnect and the agents resend, so nothing is lost.
"""

from __future__ import annotations

import os
import queue
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from hub.ingest import fleet, inbox
from hub.ingest.consumer import Consumer, Message
from hub.reconcile.apply import Fresh, Range, Reconciler, Tables, scan_from_event
from hub.settings import FaultSettings, IngestSettings
from hub.store.tables import agent_streams, alerts, dead_letters
from protocol import codec
from protocol.errors import ProtocolError
from protocol.messages import AgentHealth, AgentStatus, EventBatch, HubAck, ScanEvent
from protocol.topics import Topic

log = structlog.get_logger("hub.worker")

MAX_DEAD_LETTER_CHARS = 64 * 1024
GAP_CHECK_S = 30.0


class Rejected(Exception):
    """A message that cannot be applied; it becomes a dead letter."""

    def __init__(self, reason: str, detail: str, agent_id: str | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.agent_id = agent_id


class IngestWorker:
    def __init__(
        self,
        engine: Engine,
        consumer: Consumer,
        messages: queue.Queue[Message],
        topic_prefix: str,
        settings: IngestSettings,
        faults: FaultSettings,
        on_fatal: Callable[[BaseException], None],
    ) -> None:
        self._engine = engine
        self._consumer = consumer
        self._messages = messages
        self._prefix = topic_prefix
        self._settings = settings
        self._faults = faults
        self._on_fatal = on_fatal
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ingest", daemon=True)
        self._batches = 0
        self._reconciler = Reconciler(Tables.live())
        self._gaps_checked_at = 0.0
        self._gaps_alerted: set[tuple[str, str, str]] = set()
        self._unsynced_alerted: set[tuple[str, str]] = set()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stopping.is_set():
            batch = self._collect()
            try:
                if batch:
                    self.process(batch)
                if time.monotonic() >= self._gaps_checked_at + GAP_CHECK_S:
                    self.check_gaps(datetime.now(UTC))
            except Exception as exc:  # database down or a bug: stop acking, let ops restart us
                log.exception("ingest.fatal")
                self._on_fatal(exc)
                return

    def check_gaps(self, now: datetime) -> int:
        """Alert once for each seq gap open longer than ``gap_alert_min`` (the agent did not
        fill it: its store may have lost rows, or its resends are refused). Once per gap
        per hub process: a restarted hub reminds operators of gaps still open."""
        self._gaps_checked_at = time.monotonic()
        limit = now - timedelta(minutes=self._settings.gap_alert_min)
        with self._engine.begin() as conn:
            stale = conn.execute(
                sa.select(agent_streams).where(
                    agent_streams.c.gap_since.is_not(None), agent_streams.c.gap_since < limit
                )
            ).all()
            raised = 0
            for row in stale:
                key = (row.agent_id, row.incarnation, str(row.gap_since))
                if key in self._gaps_alerted:
                    continue
                self._gaps_alerted.add(key)
                raised += 1
                _alert(
                    conn,
                    now,
                    "medium",
                    "gap_open",
                    row.agent_id,
                    f"seqs {row.confirmed_seq + 1}..{row.max_seen_seq - 1} of incarnation "
                    f"{row.incarnation} missing since {row.gap_since}; later scans wait for them",
                )
        return raised

    def _collect(self) -> list[Message]:
        try:
            first = self._messages.get(timeout=0.2)
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

    def process(self, batch: list[Message]) -> None:
        self._batches += 1
        progress: dict[tuple[str, str], inbox.StreamProgress] = {}
        ranges: list[Range] = []
        fresh: Fresh = {}
        with self._engine.begin() as conn:
            now = datetime.now(UTC)
            for message in batch:
                savepoint = conn.begin_nested()
                try:
                    applied = self._apply(conn, message, now)
                    savepoint.commit()
                except Rejected as rejected:
                    savepoint.rollback()
                    self._dead_letter(conn, message, rejected, now)
                    continue
                except SQLAlchemyError:
                    raise  # the database itself failed: stop acking (see module docstring)
                except Exception as exc:  # a bug must not stop the line for everyone else
                    savepoint.rollback()
                    log.exception("ingest.internal_error", topic=message.topic)
                    bug = Rejected("internal_error", f"{type(exc).__name__}: {exc}")
                    self._dead_letter(conn, message, bug, now)
                    continue
                if applied is not None:
                    stream, stored = applied
                    fresh.update(stored)
                    progress[(stream.agent_id, stream.incarnation)] = stream
                    if stream.confirmed_seq > stream.previous_confirmed_seq:
                        ranges.append(
                            Range(
                                stream.agent_id,
                                stream.incarnation,
                                stream.previous_confirmed_seq,
                                stream.confirmed_seq,
                            )
                        )
            self._reconcile(conn, ranges, fresh, now)
            self._crash_if("before_commit")
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

    def _apply(
        self, conn: Connection, message: Message, now: datetime
    ) -> tuple[inbox.StreamProgress, Fresh] | None:
        """Store one message; for scans, say how far the watermark moved and hand over the
        newly stored scans so reconcile need not read them back."""
        try:
            topic = Topic.parse(message.topic, self._prefix)
            if topic.kind == "scans":
                batch = codec.decode(EventBatch, message.payload)
            elif topic.kind == "status":
                status = codec.decode(AgentStatus, message.payload)
            elif topic.kind == "health":
                health = codec.decode(AgentHealth, message.payload)
            else:
                raise Rejected("unexpected_topic", f"the hub does not consume {topic.kind}")
        except ProtocolError as exc:
            raise Rejected(
                exc.reason, exc.message, _agent_of(message.topic, self._prefix)
            ) from None

        if topic.kind == "status":
            _same_agent(topic, status.agent_id)
            fleet.record_status(conn, status, now)
            return None
        if topic.kind == "health":
            _same_agent(topic, health.agent_id)
            skew = fleet.record_health(conn, health, now, self._settings.clock_skew_alert_s)
            if skew:
                _alert(conn, now, "medium", "clock_skew", health.agent_id, skew)
            return None
        _same_agent(topic, batch.agent_id)
        offset = fleet.clock_offset_s(conn, batch.agent_id)
        stored = inbox.store_events(conn, batch, now, offset)
        for seq in stored.conflicts:
            _alert(
                conn,
                now,
                "high",
                "seq_conflict",
                batch.agent_id,
                f"seq {seq} of incarnation {batch.incarnation} arrived again with different "
                "content; the first version is kept",
            )
        fleet.record_seen(conn, batch.agent_id, batch.incarnation, now)
        self._flag_unsynced(conn, batch.agent_id, [event for event, _ in stored.stored], now)
        progress = inbox.advance(conn, batch.agent_id, batch.incarnation, batch.events[-1].seq, now)
        scans = {
            (event.agent_id, event.incarnation, event.seq): scan_from_event(event, at)
            for event, at in stored.stored
        }
        return progress, scans

    def _flag_unsynced(
        self, conn: Connection, agent_id: str, events: list[ScanEvent], now: datetime
    ) -> None:
        """Scans taken with the clock not synced keep their times (the hub cannot know the
        error unless heartbeats show a skew): flag them once per agent boot per process."""
        unsynced = [e for e in events if not e.clock_synced]
        if not unsynced or (agent_id, unsynced[0].boot_id) in self._unsynced_alerted:
            return
        self._unsynced_alerted.add((agent_id, unsynced[0].boot_id))
        _alert(
            conn,
            now,
            "low",
            "clock_unsynced",
            agent_id,
            f"scans from seq {unsynced[0].seq} (boot {unsynced[0].boot_id}) were taken with the "
            "clock not synced: their event times may be off, and so may their order against "
            "other stations' scans",
        )

    def _reconcile(
        self,
        conn: Connection,
        ranges: list[Range],
        fresh: Fresh,
        now: datetime,
    ) -> None:
        """The seam (DESIGN.md §3): the batch's newly contiguous scans, per agent in seq
        order, in the same transaction, in one pass. A bug in reconcile must not stop the
        line: the failing agent's range is retried alone, and if it fails again its scans
        stay stored and confirmed while a high alert names them; ``scantrail-hub rebuild``
        derives their records once the fault is fixed (docs/records.md)."""
        if not ranges:
            return
        try:
            with conn.begin_nested():
                self._reconciler.apply(conn, ranges, fresh)
            return
        except SQLAlchemyError:
            raise  # the database itself failed: stop acking (see module docstring)
        except Exception:
            log.exception("reconcile.batch_failed", ranges=len(ranges))
        for stream in ranges:
            try:
                with conn.begin_nested():
                    self._reconciler.apply(conn, [stream], fresh)
            except SQLAlchemyError:
                raise
            except Exception as exc:
                log.exception("reconcile.range_failed", agent_id=stream.agent_id)
                _alert(
                    conn,
                    now,
                    "high",
                    "reconcile_failed",
                    stream.agent_id,
                    f"seqs {stream.after + 1}..{stream.upto} of incarnation {stream.incarnation} "
                    f"are stored but not in the records ({type(exc).__name__}: {exc}); run "
                    "scantrail-hub rebuild once the fault is fixed",
                )

    def _dead_letter(
        self, conn: Connection, message: Message, rejected: Rejected, now: datetime
    ) -> None:
        log.warning(
            "ingest.dead_letter",
            topic=message.topic,
            reason=rejected.reason,
            detail=rejected.detail,
        )
        text = message.payload[:MAX_DEAD_LETTER_CHARS].decode("utf-8", errors="backslashreplace")
        conn.execute(
            dead_letters.insert().values(
                received_at=now,
                topic=message.topic[:1024],
                agent_id=rejected.agent_id,
                reason=rejected.reason,
                detail=rejected.detail,
                payload=text,
                payload_bytes=len(message.payload),
            )
        )
        if rejected.reason == "agent_mismatch":
            _alert(conn, now, "high", "spoofed_sender", rejected.agent_id, rejected.detail)

    def _crash_if(self, point: str) -> None:
        if self._faults.crash_point == point and self._batches >= self._faults.crash_after_batches:
            log.warning("fault.crash", point=point)
            os.kill(os.getpid(), signal.SIGKILL)


def _same_agent(topic: Topic, payload_agent: str) -> None:
    if topic.agent_id != payload_agent:
        raise Rejected(
            "agent_mismatch",
            f"topic names agent {topic.agent_id!r} but the payload says {payload_agent!r}",
            topic.agent_id,
        )


def _agent_of(topic: str, prefix: str) -> str | None:
    parts = topic.split("/")
    head = prefix.split("/")
    if parts[: len(head) + 2] == [*head, "v1", "agents"] and len(parts) > len(head) + 2:
        return parts[len(head) + 2][:64]
    return None


def _alert(
    conn: Connection, now: datetime, severity: str, kind: str, agent_id: str | None, detail: str
) -> None:
    log.warning("alert.raised", kind=kind, agent_id=agent_id, detail=detail)
    conn.execute(
        sa.insert(alerts).values(
            created_at=now, severity=severity, kind=kind, agent_id=agent_id, detail=detail
        )
    )
