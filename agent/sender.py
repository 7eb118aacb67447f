"""The sender thread: publishes the outbox in seq order until the hub's watermark covers it.

The rules below are decided in delivery.py, a sans-IO core; this thread is its shell: it
waits for news (keeps, connections, PUBACKs, acks), reads the outbox, publishes, records
what the hub confirmed, and renumbers the outbox when told to.

Delivery rules (DESIGN.md §3):
1. Rows go out in seq order, in batches, with at most ``window`` batches awaiting PUBACK,
   at most ``drain_rate`` events per second (a token bucket), and at most ``hub_window``
   events beyond the hub's ``confirmed_seq``. A broker PUBACKs at once whatever the hub's
   pace; without the hub window a backlog would pile up in the broker's queue, every
   scan's ack would wait behind it, and the resend timers would fire on scans still queued.
2. A broker PUBACK only marks a batch "sent". A row counts as delivered only when the
   hub's retained ``ack`` says ``confirmed_seq`` covers it; then the outbox records it.
3. If no ack arrives for ``resend_after_s`` while rows are unconfirmed, everything after
   the watermark is sent again; the delay doubles up to ``resend_max_s`` and resets when
   the watermark moves. The hub ignores exact duplicates.
4. After a (re)connect the sender waits briefly for the retained ack, then resends
   from the watermark: whatever the broker held may have been lost with its store.
5. An ack with ``resend_from`` names the hub's first gap. The sender re-sends just that
   gap (up to ``resend_to``) and then goes on from where it was (selective repeat), so a
   hub that subscribed late costs the gap, not the whole backlog again. A new gap is
   repaired at once. The same gap is asked for again only after the hub went quiet for a
   resend delay, or at most once per ``resend_max_s`` while its acks keep coming. An ack
   without ``resend_to`` (an older hub) rewinds to ``resend_from`` and goes back N.
6. An ack confirms only seqs this sender published in this run: a retained ack is the
   hub's word about what it holds under this numbering, not about what this file holds.
   When the hub holds seqs this file never kept (``confirmed_seq`` beyond the last seq)
   or holds one with other content than was sent (``conflict_seq`` above the watermark),
   the file was restored from an old copy: its seqs are spent. The outbox then starts a
   new incarnation with every unconfirmed scan (outbox.py ``renumber``), and the hub
   applies each event id once. Confirming such an ack instead would lose those scans.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog

from agent.delivery import Delivery, SenderState
from agent.mqtt import AckReceived, Connected, Disconnected, Published
from agent.outbox import OutboxReader, PendingRow
from agent.settings import DeliverySettings
from protocol import codec
from protocol.errors import ProtocolError
from protocol.messages import MAX_BATCH_BYTES, AgentHealth, AgentStatus, HubAck
from protocol.topics import Topic

log = structlog.get_logger("agent.sender")

__all__ = ["Sender", "SenderState", "Transport"]


class Transport(Protocol):
    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> int | None: ...


@dataclass(frozen=True)
class _Kept:
    incarnation: str
    seq: int


@dataclass(frozen=True)
class _Stop:
    pass


class Sender:
    def __init__(
        self,
        agent_id: str,
        incarnation: str,
        topic_prefix: str,
        settings: DeliverySettings,
        reader_factory: Callable[[], OutboxReader],
        confirm: Callable[[int], Any],
        renumber: Callable[[], tuple[str, int]],
        online_status: Callable[[], AgentStatus],
        health: Callable[[SenderState], AgentHealth],
        events: queue.Queue[Any],
    ) -> None:
        self._agent_id = agent_id
        self._incarnation = incarnation
        self._settings = settings
        self._reader_factory = reader_factory
        self._confirm = confirm
        self._renumber = renumber
        self._online_status = online_status
        self._health = health
        self._events = events
        self._topics = {
            k: str(Topic(topic_prefix, agent_id, k))
            for k in ("scans", "readings", "status", "health")
        }
        self._transport: Transport | None = None
        self._thread = threading.Thread(target=self._run, name="sender", daemon=True)
        self._core = Delivery(agent_id, incarnation, settings, 0, 0, time.monotonic())
        self.state = self._core.state
        self._ahead: list[PendingRow] = []  # rows read ahead, from next_seq on

    def start(self, transport: Transport, confirmed_seq: int, last_seq: int) -> None:
        self._transport = transport
        self._core = Delivery(
            self._agent_id,
            self._incarnation,
            self._settings,
            confirmed_seq,
            last_seq,
            time.monotonic(),
        )
        self.state = self._core.state
        self._thread.start()

    def stop(self) -> None:
        self._events.put(_Stop())
        self._thread.join(timeout=10)

    def notify_kept(self, incarnation: str, seq: int) -> None:
        self._events.put(_Kept(incarnation, seq))

    # -- the loop ---------------------------------------------------------------------

    def _run(self) -> None:
        reader = self._reader_factory()
        try:
            while True:
                try:
                    item = self._events.get(timeout=self._core.sleep_for())
                except queue.Empty:
                    item = None
                while item is not None:
                    if isinstance(item, _Stop):
                        return
                    self._handle(item)
                    try:
                        item = self._events.get_nowait()
                    except queue.Empty:
                        item = None
                now = time.monotonic()
                self._core.resend_due(now)
                self._pump(reader, now)
                if self._core.health_due(now):
                    self._send_health()
        finally:
            reader.close()

    def _handle(self, item: Any) -> None:
        core = self._core
        if isinstance(item, _Kept):
            core.kept(item.incarnation, item.seq)
        elif isinstance(item, Connected):
            core.connected(time.monotonic())
            self._publish(self._topics["status"], codec.encode(self._online_status()), 1, True)
        elif isinstance(item, Disconnected):
            core.disconnected(item)
        elif isinstance(item, Published):
            core.published(item.mid, item.reason_code)
        elif isinstance(item, AckReceived):
            self._on_ack(item.payload)

    def _on_ack(self, payload: bytes) -> None:
        try:
            ack = codec.decode(HubAck, payload)
        except ProtocolError as exc:
            log.warning("ack.invalid", reason=exc.reason, error=exc.message)
            return
        taken = self._core.ack(ack, time.monotonic(), datetime.now(UTC))
        if taken.confirm is not None:
            self._confirm(taken.confirm)
        if taken.renumber:
            try:
                incarnation, last_seq = self._renumber()
            except Exception:  # a full disk, say: the next ack asks again
                log.exception("outbox.renumber_failed")
                self._core.renumber_failed()
                return
            self._incarnation = incarnation
            self._core.renumbered(incarnation, last_seq)
            self._ahead = []

    def _pump(self, reader: OutboxReader, now: float) -> None:
        while (send := self._core.next_send(now)) is not None:
            rows = self._next_rows(reader, send.first_seq, send.limit)
            if not rows:
                return
            rows = _fit(rows, MAX_BATCH_BYTES - 1024)
            payload = codec.batch(self._agent_id, self._incarnation, [r.payload for r in rows])
            mid = self._publish(self._topics[rows[0].kind], payload, 1, False)
            if mid is None:
                return  # paho's queue is full; try again on the next tick
            self._core.sent(mid, rows[-1].seq, len(rows))

    def _next_rows(self, reader: OutboxReader, seq: int, limit: int) -> list[PendingRow]:
        """Up to ``limit`` rows from ``seq`` on. Reads a whole window's worth at a time:
        one query per batch cost as much as publishing the batch."""
        ahead = self._ahead
        if not ahead or ahead[0].seq != seq:
            ahead = reader.pending(seq, self._settings.batch_size * self._settings.window)
        rows = _one_kind(ahead[:limit]) if ahead else []
        self._ahead = ahead[len(rows) :]
        return rows

    def _send_health(self) -> None:
        try:
            health = self._health(self.state)
        except Exception:  # a heartbeat that cannot be built must not stop delivery
            log.exception("health.failed")
            return
        self._publish(self._topics["health"], codec.encode(health), 0, False)

    def _publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> int | None:
        assert self._transport is not None
        return self._transport.publish(topic, payload, qos, retain)


def _one_kind(rows: list[PendingRow]) -> list[PendingRow]:
    """The prefix of ``rows`` that travels on one topic: scans and a sterilizer's readings
    share one seq numbering but not a payload model (protocol/topics.py)."""
    kind = rows[0].kind
    for index, row in enumerate(rows):
        if row.kind != kind:
            return rows[:index]
    return rows


def _fit(rows: list[PendingRow], budget: int) -> list[PendingRow]:
    """The longest prefix of ``rows`` whose payloads fit in ``budget`` bytes (at least one)."""
    if sum(len(row.payload) for row in rows) * 4 < budget:
        return rows  # UTF-8 is at most 4 bytes a character: no need to encode to know
    used = 0
    for index, row in enumerate(rows):
        used += len(row.payload.encode()) + 1
        if used > budget and index > 0:
            return rows[:index]
    return rows
