"""The sender's delivery rules (numbered in sender.py's docstring) as a sans-IO core.

No thread, no clock, no outbox, no broker: every method is told the time it happens at
(``now``, monotonic seconds) and what happened, and answers what to do. The thread in
sender.py reads the outbox, publishes, confirms and renumbers, and feeds the results
back; tests drive this core with a fake clock (tests/agent/test_delivery.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import structlog

from agent.mqtt import CERTIFICATE_ALARMS, Disconnected
from agent.settings import DeliverySettings
from protocol.messages import HubAck

log = structlog.get_logger("agent.sender")

ACK_WAIT_AFTER_CONNECT_S = 1.0


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


@dataclass(frozen=True)
class Send:
    """Publish the outbox's rows from ``first_seq`` on, at most ``limit`` of them."""

    first_seq: int
    limit: int


@dataclass(frozen=True)
class AckTaken:
    """What an ack asks of the shell: record ``confirm`` as delivered in the outbox, or
    ``renumber`` it (rule 6); neither when it changed nothing there."""

    confirm: int | None = None
    renumber: bool = False


class Delivery:
    def __init__(
        self,
        agent_id: str,
        incarnation: str,
        settings: DeliverySettings,
        confirmed_seq: int,
        last_seq: int,
        now: float,
    ) -> None:
        self.agent_id = agent_id
        self.incarnation = incarnation
        self._settings = settings
        self.state = SenderState(
            confirmed_seq=confirmed_seq,
            broker_acked_seq=confirmed_seq,
            next_seq=confirmed_seq + 1,
        )
        self.last_seq = last_seq
        self._published_seq = 0  # the highest seq published in this run (rule 6)
        self._inflight: dict[int, int] = {}  # mid -> last seq of that batch
        self._tokens = float(settings.batch_size)
        self._tokens_at = now
        self._resend_delay = settings.resend_after_s
        self._progress_at = now
        self._hold_until = 0.0
        self._rewound_at = 0.0
        self._gap: tuple[int, int] | None = None  # (last seq of the gap, where to resume)
        self._asked_gap_end = 0
        self._health_at = 0.0

    # -- what happened ----------------------------------------------------------------------

    def kept(self, incarnation: str, seq: int) -> None:
        """The outbox kept ``seq`` (of ``incarnation``: one kept before a renumbering is
        not this numbering's)."""
        if incarnation == self.incarnation:
            self.last_seq = max(self.last_seq, seq)

    def connected(self, now: float) -> None:
        """Rule 4: resend from the watermark, after a short wait for the retained ack."""
        log.info("mqtt.connected")
        state = self.state
        state.connected = True
        state.alarms.difference_update({"broker_login_refused", *CERTIFICATE_ALARMS})
        self._inflight.clear()
        self._rewind(state.confirmed_seq + 1, now)
        self._hold_until = now + ACK_WAIT_AFTER_CONNECT_S

    def disconnected(self, event: Disconnected) -> None:
        state = self.state
        if event.refused and "broker_login_refused" not in state.alarms:
            # Revoked, or a wrong password: paho keeps retrying; a person must act.
            state.alarms.add("broker_login_refused")
            log.error("mqtt.login_refused", reason=event.reason)
        if event.certificate and event.certificate not in state.alarms:
            # The broker's certificate is outside its dates (a clock is wrong, or it was
            # not renewed) or not the site's: retrying alone will not fix it.
            state.alarms.difference_update(CERTIFICATE_ALARMS)
            state.alarms.add(event.certificate)
            log.error("mqtt.certificate_refused", alarm=event.certificate, reason=event.reason)
        if state.connected:
            log.warning("mqtt.disconnected", reason=event.reason)
        state.connected = False
        self._inflight.clear()

    def published(self, mid: int, reason_code: int) -> None:
        """The broker's PUBACK for ``mid``: only "sent" (rule 2)."""
        last = self._inflight.pop(mid, None)
        if last is None:
            return
        state = self.state
        if reason_code >= 0x80:
            # The broker refused it (e.g. 0x87 not authorized): it comes back via resend.
            state.alarms.add("broker_refused")
            log.error("mqtt.publish_refused", reason_code=reason_code, last_seq=last)
        else:
            state.broker_acked_seq = max(state.broker_acked_seq, last)
            state.alarms.discard("broker_refused")

    def ack(self, ack: HubAck, now: float, wall: datetime) -> AckTaken:
        """The hub's retained ack (rules 2, 5, 6)."""
        if ack.agent_id != self.agent_id or ack.incarnation != self.incarnation:
            return AckTaken()
        state = self.state
        self._hold_until = 0.0
        state.last_ack_at = wall
        # Any ack shows the hub is taking our scans in, perhaps slowly through re-sent
        # duplicates: going back N now would only bury it deeper. Gaps come as resend_from.
        silent_for = now - self._progress_at
        self._progress_at = now
        if ack.confirmed_seq > self.last_seq or (ack.conflict_seq or 0) > state.confirmed_seq:
            log.error(
                "ack.numbering_spent",
                confirmed=ack.confirmed_seq,
                conflict_seq=ack.conflict_seq,
                last_seq=self.last_seq,
                incarnation=self.incarnation,
            )
            return AckTaken(renumber=True)
        taken = AckTaken()
        confirmed = min(ack.confirmed_seq, self._published_seq)
        if confirmed > state.confirmed_seq:
            state.confirmed_seq = confirmed
            taken = AckTaken(confirm=confirmed)
            self._resend_delay = self._settings.resend_after_s
            state.next_seq = max(state.next_seq, confirmed + 1)
        start = ack.resend_from
        if start is None or start <= state.confirmed_seq or start >= state.next_seq:
            return taken  # no gap, or one the sender has not reached yet
        end = ack.resend_to if ack.resend_to is not None else self.last_seq
        if end == self._asked_gap_end:
            # Asked before: the re-sent range is probably still queued behind what the hub
            # is working through. Ask again only if the hub had gone quiet, or, while acks
            # keep coming, once per resend_max_s so a lost repair is still repaired.
            since_asked = now - self._rewound_at
            quiet = silent_for >= self._resend_delay
            if since_asked < self._resend_delay or not (
                quiet or since_asked >= self._settings.resend_max_s
            ):
                return taken
        log.info("ack.resend_requested", resend_from=start, resend_to=end)
        self._asked_gap_end = end
        resume = max(state.next_seq, self._gap[1] if self._gap else 0)
        self._rewind(start, now)
        self._gap = (end, resume)
        return taken

    def renumbered(self, incarnation: str, last_seq: int) -> None:
        """The outbox went on under a new incarnation (rule 6): start again from seq 1."""
        log.warning("outbox.renumbered", incarnation=incarnation, last_seq=last_seq)
        state = self.state
        self.incarnation, self.last_seq = incarnation, last_seq
        state.alarms.discard("outbox_renumber_failed")
        state.alarms.add("outbox_renumbered")
        state.confirmed_seq = state.broker_acked_seq = self._published_seq = 0
        state.next_seq = 1
        self._inflight.clear()
        self._gap = None
        self._asked_gap_end = 0
        self._resend_delay = self._settings.resend_after_s

    def renumber_failed(self) -> None:
        """A full disk, say: the next ack asks again; nothing is confirmed meanwhile."""
        self.state.alarms.add("outbox_renumber_failed")

    def sent(self, mid: int, last_seq: int, count: int) -> None:
        """A batch of ``count`` rows up to ``last_seq`` went out as ``mid``."""
        state = self.state
        self._inflight[mid] = last_seq
        self._published_seq = max(self._published_seq, last_seq)
        self.last_seq = max(self.last_seq, last_seq)  # read before its keep was told
        state.next_seq = last_seq + 1
        state.events_sent += count
        self._tokens -= count

    # -- what to do -------------------------------------------------------------------------

    def resend_due(self, now: float) -> bool:
        """Rule 3: no progress for the resend delay while sent rows are unconfirmed: go back
        to the watermark, and wait twice as long next time (to resend_max_s)."""
        state = self.state
        if state.next_seq - 1 <= state.confirmed_seq:
            self._progress_at = now
            return False
        if now - self._progress_at < self._resend_delay:
            return False
        log.info("delivery.resend", from_seq=state.confirmed_seq + 1, delay_s=self._resend_delay)
        self._inflight.clear()
        self._rewind(state.confirmed_seq + 1, now)
        self._progress_at = now
        self._resend_delay = min(self._resend_delay * 2, self._settings.resend_max_s)
        return True

    def next_send(self, now: float) -> Send | None:
        """The next batch to publish (rule 1: in seq order, within the broker window, the
        drain rate and the hub window; rule 5: a gap first), or None: wait."""
        settings = self._settings
        state = self.state
        if not state.connected or now < self._hold_until:
            return None
        capacity = float(settings.batch_size * settings.window)
        self._tokens = min(capacity, self._tokens + (now - self._tokens_at) * settings.drain_rate)
        self._tokens_at = now
        while self._has_unsent() and len(self._inflight) < settings.window and self._tokens >= 1:
            limit = min(settings.batch_size, int(self._tokens), self._hub_room())
            if limit < 1:
                return None  # the hub has enough of ours to work through: wait for its ack
            if self._gap is None:
                return Send(state.next_seq, limit)
            end, resume = self._gap
            if state.next_seq <= end:
                return Send(state.next_seq, min(limit, end - state.next_seq + 1))
            self._gap = None
            state.next_seq = max(state.next_seq, resume)
        return None

    def health_due(self, now: float) -> bool:
        if not self.state.connected or now - self._health_at < self._settings.health_interval_s:
            return False
        self._health_at = now
        return True

    def sleep_for(self) -> float:
        """How long the shell may wait for news before asking again."""
        if (
            self.state.connected
            and self._has_unsent()
            and len(self._inflight) < self._settings.window
            and self._hub_room() > 0
        ):
            return 0.02  # waiting only for tokens or the post-connect hold
        return 0.25  # an ack or a PUBACK wakes the loop at once

    # -- within ---------------------------------------------------------------------------------

    def _hub_room(self) -> int:
        """Events that may still go out before the hub confirms more (rule 1)."""
        state = self.state
        return self._settings.hub_window - (state.next_seq - 1 - state.confirmed_seq)

    def _has_unsent(self) -> bool:
        return self.state.next_seq <= self.last_seq

    def _rewind(self, seq: int, now: float) -> None:
        if seq <= self.last_seq and seq < self.state.next_seq:
            self.state.resends += 1
        self.state.next_seq = min(self.state.next_seq, seq)
        self._rewound_at = now
        self._gap = None  # a plain rewind goes back N; ``ack`` sets a gap after it
