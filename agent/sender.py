"""The sender thread: publishes the outbox in seq order until the hub's watermark covers it.

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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog

from agent.mqtt import CERTIFICATE_ALARMS, AckReceived, Connected, Disconnected, Published
from agent.outbox import OutboxReader, PendingRow
from agent.settings import DeliverySettings
from protocol import codec
from protocol.errors import ProtocolError
from protocol.messages import MAX_BATCH_BYTES, AgentHealth, AgentStatus, HubAck
from protocol.topics import Topic

log = structlog.get_logger("agent.sender")

ACK_WAIT_AFTER_CONNECT_S = 1.0


class Transport(Protocol):
    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> int | None: ...


@dataclass(frozen=True)
class _Kept:
    incarnation: str
    seq: int


@dataclass(frozen=True)
class _Stop:
    pass


@dataclass
class SenderState:
    """What ``status`` reports about delivery; written only by the sender thread."""

    connected: bool = False
    confirmed_seq: int = 0
    broker_acked_seq: int = 0
    next_seq: int = 1
    resends: int = 0
    events_sent: int = 0  # every publish of a scan counts, re-sends included
    last_ack_at: datetime | None = None
    alarms: set[str] = field(default_factory=set)


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
            k: str(Topic(topic_prefix, agent_id, k)) for k in ("scans", "status", "health")
        }
        self._transport: Transport | None = None
        self._thread = threading.Thread(target=self._run, name="sender", daemon=True)
        self.state = SenderState()
        self._last_seq = 0
        self._published_seq = 0  # the highest seq published in this run (rule 6)
        self._inflight: dict[int, int] = {}  # mid -> last seq of that batch
        self._ahead: list[PendingRow] = []  # rows read ahead, from next_seq on
        self._tokens = float(settings.batch_size)
        self._tokens_at = time.monotonic()
        self._resend_delay = settings.resend_after_s
        self._progress_at = time.monotonic()
        self._hold_until = 0.0
        self._rewound_at = 0.0
        self._gap: tuple[int, int] | None = None  # (last seq of the gap, where to resume)
        self._asked_gap_end = 0
        self._health_at = 0.0

    def start(self, transport: Transport, confirmed_seq: int, last_seq: int) -> None:
        self._transport = transport
        self.state.confirmed_seq = confirmed_seq
        self.state.broker_acked_seq = confirmed_seq
        self.state.next_seq = confirmed_seq + 1
        self._last_seq = last_seq
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
                    item = self._events.get(timeout=self._sleep_for())
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
                self._maybe_resend(now)
                self._pump(reader, now)
                self._maybe_health(now)
        finally:
            reader.close()

    def _sleep_for(self) -> float:
        if (
            self.state.connected
            and self._has_unsent()
            and len(self._inflight) < self._settings.window
            and self._hub_room() > 0
        ):
            return 0.02  # waiting only for tokens or the post-connect hold
        return 0.25  # an ack or a PUBACK wakes the loop at once

    def _hub_room(self) -> int:
        """Events that may still go out before the hub confirms more (rule 1)."""
        state = self.state
        return self._settings.hub_window - (state.next_seq - 1 - state.confirmed_seq)

    def _has_unsent(self) -> bool:
        return self.state.next_seq <= self._last_seq

    def _handle(self, item: Any) -> None:
        state = self.state
        if isinstance(item, _Kept):
            if item.incarnation == self._incarnation:  # else kept before a renumbering
                self._last_seq = max(self._last_seq, item.seq)
        elif isinstance(item, Connected):
            log.info("mqtt.connected")
            state.connected = True
            state.alarms.difference_update({"broker_login_refused", *CERTIFICATE_ALARMS})
            self._inflight.clear()
            self._publish(self._topics["status"], codec.encode(self._online_status()), 1, True)
            self._rewind(state.confirmed_seq + 1)
            self._hold_until = time.monotonic() + ACK_WAIT_AFTER_CONNECT_S
        elif isinstance(item, Disconnected):
            if item.refused and "broker_login_refused" not in state.alarms:
                # Revoked, or a wrong password: paho keeps retrying; a person must act.
                state.alarms.add("broker_login_refused")
                log.error("mqtt.login_refused", reason=item.reason)
            if item.certificate and item.certificate not in state.alarms:
                # The broker's certificate is outside its dates (a clock is wrong, or it
                # was not renewed) or not the site's: retrying alone will not fix it.
                state.alarms.difference_update(CERTIFICATE_ALARMS)
                state.alarms.add(item.certificate)
                log.error("mqtt.certificate_refused", alarm=item.certificate, reason=item.reason)
            if state.connected:
                log.warning("mqtt.disconnected", reason=item.reason)
            state.connected = False
            self._inflight.clear()
        elif isinstance(item, Published):
            last = self._inflight.pop(item.mid, None)
            if last is None:
                return
            if item.reason_code >= 0x80:
                # The broker refused it (e.g. 0x87 not authorized): it will come back via resend.
                state.alarms.add("broker_refused")
                log.error("mqtt.publish_refused", reason_code=item.reason_code, last_seq=last)
            else:
                state.broker_acked_seq = max(state.broker_acked_seq, last)
                state.alarms.discard("broker_refused")
        elif isinstance(item, AckReceived):
            self._on_ack(item.payload)

    def _on_ack(self, payload: bytes) -> None:
        try:
            ack = codec.decode(HubAck, payload)
        except ProtocolError as exc:
            log.warning("ack.invalid", reason=exc.reason, error=exc.message)
            return
        if ack.agent_id != self._agent_id or ack.incarnation != self._incarnation:
            return
        state = self.state
        now = time.monotonic()
        self._hold_until = 0.0
        state.last_ack_at = datetime.now(UTC)
        # Any ack shows the hub is taking our scans in, perhaps slowly through re-sent
        # duplicates: going back N now would only bury it deeper. Gaps come as resend_from.
        silent_for = now - self._progress_at
        self._progress_at = now
        if ack.confirmed_seq > self._last_seq or (ack.conflict_seq or 0) > state.confirmed_seq:
            self._start_again(ack)
            return
        confirmed = min(ack.confirmed_seq, self._published_seq)
        if confirmed > state.confirmed_seq:
            state.confirmed_seq = confirmed
            self._confirm(confirmed)
            self._resend_delay = self._settings.resend_after_s
            state.next_seq = max(state.next_seq, confirmed + 1)
        start = ack.resend_from
        if start is None or start <= state.confirmed_seq or start >= state.next_seq:
            return  # no gap, or one the sender has not reached yet
        end = ack.resend_to if ack.resend_to is not None else self._last_seq
        if end == self._asked_gap_end:
            # Asked before: the re-sent range is probably still queued behind what the hub
            # is working through. Ask again only if the hub had gone quiet, or, while acks
            # keep coming, once per resend_max_s so a lost repair is still repaired.
            since_asked = now - self._rewound_at
            quiet = silent_for >= self._resend_delay
            if since_asked < self._resend_delay or not (
                quiet or since_asked >= self._settings.resend_max_s
            ):
                return
        log.info("ack.resend_requested", resend_from=start, resend_to=end)
        self._asked_gap_end = end
        resume = max(state.next_seq, self._gap[1] if self._gap else 0)
        self._rewind(start)
        self._gap = (end, resume)

    def _start_again(self, ack: HubAck) -> None:
        """This file's numbering is spent (rule 6): go on under a new incarnation."""
        log.error(
            "ack.numbering_spent",
            confirmed=ack.confirmed_seq,
            conflict_seq=ack.conflict_seq,
            last_seq=self._last_seq,
            incarnation=self._incarnation,
        )
        state = self.state
        try:
            self._incarnation, self._last_seq = self._renumber()
        except Exception:  # a full disk, say: the next ack asks again; nothing is confirmed
            log.exception("outbox.renumber_failed")
            state.alarms.add("outbox_renumber_failed")
            return
        log.warning("outbox.renumbered", incarnation=self._incarnation, last_seq=self._last_seq)
        state.alarms.discard("outbox_renumber_failed")
        state.alarms.add("outbox_renumbered")
        state.confirmed_seq = state.broker_acked_seq = self._published_seq = 0
        state.next_seq = 1
        self._inflight.clear()
        self._ahead = []
        self._gap = None
        self._asked_gap_end = 0
        self._resend_delay = self._settings.resend_after_s

    def _rewind(self, seq: int) -> None:
        if seq <= self._last_seq and seq < self.state.next_seq:
            self.state.resends += 1
        self.state.next_seq = min(self.state.next_seq, seq)
        self._rewound_at = time.monotonic()
        self._gap = None  # a plain rewind goes back N; ``_on_ack`` sets a gap after it

    def _maybe_resend(self, now: float) -> None:
        state = self.state
        unconfirmed_sent = state.next_seq - 1 > state.confirmed_seq
        if not unconfirmed_sent:
            self._progress_at = now
            return
        if now - self._progress_at < self._resend_delay:
            return
        log.info("delivery.resend", from_seq=state.confirmed_seq + 1, delay_s=self._resend_delay)
        self._inflight.clear()
        self._rewind(state.confirmed_seq + 1)
        self._progress_at = now
        self._resend_delay = min(self._resend_delay * 2, self._settings.resend_max_s)

    def _pump(self, reader: OutboxReader, now: float) -> None:
        settings = self._settings
        state = self.state
        if not state.connected or now < self._hold_until:
            return
        capacity = float(settings.batch_size * settings.window)
        self._tokens = min(capacity, self._tokens + (now - self._tokens_at) * settings.drain_rate)
        self._tokens_at = now
        while self._has_unsent() and len(self._inflight) < settings.window and self._tokens >= 1:
            limit = min(settings.batch_size, int(self._tokens), self._hub_room())
            if limit < 1:
                return  # the hub has enough of ours to work through: wait for its ack
            if self._gap is not None:
                end, resume = self._gap
                if state.next_seq > end:
                    self._gap = None
                    state.next_seq = max(state.next_seq, resume)
                    continue
                limit = min(limit, end - state.next_seq + 1)
            rows = self._next_rows(reader, limit)
            if not rows:
                return
            rows = _fit(rows, MAX_BATCH_BYTES - 1024)
            payload = codec.batch(self._agent_id, self._incarnation, [r.payload for r in rows])
            mid = self._publish(self._topics["scans"], payload, 1, False)
            if mid is None:
                return  # paho's queue is full; try again on the next tick
            self._inflight[mid] = rows[-1].seq
            self._published_seq = max(self._published_seq, rows[-1].seq)
            self._last_seq = max(self._last_seq, rows[-1].seq)  # read before its _Kept came
            state.next_seq = rows[-1].seq + 1
            state.events_sent += len(rows)
            self._tokens -= len(rows)

    def _next_rows(self, reader: OutboxReader, limit: int) -> list[PendingRow]:
        """Up to ``limit`` rows from ``next_seq`` on. Reads a whole window's worth at a time:
        one query per batch cost as much as publishing the batch."""
        seq = self.state.next_seq
        ahead = self._ahead
        if not ahead or ahead[0].seq != seq:
            ahead = reader.pending(seq, self._settings.batch_size * self._settings.window)
        self._ahead = ahead[limit:]
        return ahead[:limit]

    def _maybe_health(self, now: float) -> None:
        if not self.state.connected or now - self._health_at < self._settings.health_interval_s:
            return
        self._health_at = now
        try:
            health = self._health(self.state)
        except Exception:  # a heartbeat that cannot be built must not stop delivery
            log.exception("health.failed")
            return
        self._publish(self._topics["health"], codec.encode(health), 0, False)

    def _publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> int | None:
        assert self._transport is not None
        return self._transport.publish(topic, payload, qos, retain)


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
