"""Many simulated stations on one MQTT connection, sending as stations do.

Each station scans once a ``every_s`` (what a person at its kind of station scans, through
the agent's own station rules: ScriptedStation), one scan per message at QoS 1, and sends
again from its watermark when the hub's ack has not moved for ``resend_after_s`` (the
agent's rule 3, agent/delivery.py). So scans a hub took with it when it died, or that a
clean-session hub's broker dropped (mosquitto issue 2662), come back to another hub, as a
real agent's would. Used by the cluster tests (a few dozen) and by ``make chaos`` and
bench/cluster_bench.py (200).
"""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from bench.traffic import MODES, station_texts
from protocol import codec
from protocol.messages import EventBatch
from tests.harness.stations import ScriptedStation

PREFIX = "scantrail"
SWEEP_S = 0.25  # how often each station checks whether to re-send (agent/delivery.py)


@dataclass
class _Sim:
    station: ScriptedStation
    texts: list[str]
    next_text: int = 0
    sent: dict[int, bytes] = field(default_factory=dict)  # seq -> its message
    first_sent_at: dict[int, float] = field(default_factory=dict)
    confirmed: int = 0
    progress_at: float = 0.0  # when the ack last moved, or the first unconfirmed went out


class SimulatedFleet:
    def __init__(
        self,
        port: int,
        stations: int,
        tag: str = "sim",
        every_s: float = 1.0,
        resend_after_s: float = 2.0,
        seed: int = 7,
    ) -> None:
        rng = random.Random(seed)
        self._every_s = every_s
        self._resend_after_s = resend_after_s
        self._sims: dict[str, _Sim] = {}
        for n in range(stations):
            agent_id, mode = f"{tag}-{n:03d}", MODES[n % len(MODES)]
            texts = station_texts(rng, mode, 4000, f"{tag}{n}")
            self._sims[agent_id] = _Sim(ScriptedStation(agent_id, mode), texts)
        self._lock = threading.Lock()
        self._scanning = threading.Event()
        self._stopping = threading.Event()
        self.events_sent = 0  # every publish of a scan, re-sends included
        self.ack_ms: list[float] = []  # first send -> the ack that covered it
        self.ack_at: list[float] = []  # when each of those acks came (monotonic)
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{tag}-fleet",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.on_message = self._on_ack
        self.client.on_connect = lambda c, *a: c.subscribe(f"{PREFIX}/v1/agents/+/ack", qos=1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self._thread = threading.Thread(target=self._run, name="fleet", daemon=True)

    # -- control ---------------------------------------------------------------------------

    def start(self) -> None:
        """Scan (again, after ``stop_scanning``)."""
        self._scanning.set()
        if not self._thread.is_alive():
            self._thread.start()

    def stop_scanning(self) -> None:
        """No new scans; re-sends go on until everything is confirmed."""
        self._scanning.clear()

    def close(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=30)
        self.client.disconnect()
        self.client.loop_stop()

    # -- what it did -----------------------------------------------------------------------

    @property
    def scans(self) -> int:
        with self._lock:
            return sum(len(s.sent) for s in self._sims.values())

    def last_seqs(self) -> dict[str, int]:
        with self._lock:
            return {agent_id: len(s.sent) for agent_id, s in self._sims.items()}

    def confirmed_past(self, seqs: dict[str, int]) -> bool:
        """Whether every station's ack covers the seq given for it."""
        with self._lock:
            return all(self._sims[a].confirmed >= seq for a, seq in seqs.items())

    def settled(self) -> None:
        """AssertionError until every scan sent is confirmed by a hub's ack."""
        with self._lock:
            behind = {a: (s.confirmed, len(s.sent)) for a, s in self._sims.items()}
        behind = {a: v for a, v in behind.items() if v[0] < v[1]}
        assert not behind, f"{len(behind)} stations not confirmed: {list(behind.items())[:5]}"

    # -- the stations ----------------------------------------------------------------------

    def _run(self) -> None:
        agents = list(self._sims)
        tick = 0
        start = swept = time.monotonic()
        while not self._stopping.is_set():
            for n, agent_id in enumerate(agents):  # spread evenly over each period
                due = start + tick * self._every_s + n * self._every_s / len(agents)
                if (delay := due - time.monotonic()) > 0 and self._stopping.wait(delay):
                    return
                if self._scanning.is_set():
                    self._scan(agent_id)
                if time.monotonic() - swept >= SWEEP_S:  # as often as an agent's sender looks
                    swept = time.monotonic()
                    for each in agents:
                        self._resend(each)
            tick += 1

    def _scan(self, agent_id: str) -> None:
        sim = self._sims[agent_id]
        made = []
        while not made:  # a text the station refuses (out of place) makes no scan: the next
            made = sim.station.scan(sim.texts[sim.next_text % len(sim.texts)])
            sim.next_text += 1
        event = made[0]
        payload = codec.encode(
            EventBatch(agent_id=agent_id, incarnation=event.incarnation, events=(event,))
        )
        now = time.monotonic()
        with self._lock:
            if sim.confirmed == len(sim.sent):
                sim.progress_at = now  # the first unconfirmed scan: its wait starts now
            sim.sent[event.seq] = payload
            sim.first_sent_at[event.seq] = now
        self._publish(agent_id, payload)

    def _resend(self, agent_id: str) -> None:
        sim = self._sims[agent_id]
        now = time.monotonic()
        with self._lock:
            if sim.confirmed >= len(sim.sent) or now - sim.progress_at < self._resend_after_s:
                return
            sim.progress_at = now
            again = [sim.sent[seq] for seq in range(sim.confirmed + 1, len(sim.sent) + 1)]
        for payload in again[:50]:  # a window, as the agent's
            self._publish(agent_id, payload)

    def _publish(self, agent_id: str, payload: bytes) -> None:
        with self._lock:
            self.events_sent += 1
        self.client.publish(f"{PREFIX}/v1/agents/{agent_id}/scans", payload, qos=1)

    def _on_ack(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        now = time.monotonic()
        body = json.loads(msg.payload)
        sim = self._sims.get(body.get("agent_id", ""))
        if sim is None:
            return
        with self._lock:
            confirmed = min(int(body["confirmed_seq"]), len(sim.sent))
            for seq in range(sim.confirmed + 1, confirmed + 1):  # an older ack moves nothing
                self.ack_ms.append((now - sim.first_sent_at[seq]) * 1000)
                self.ack_at.append(now)
            if confirmed > sim.confirmed:
                sim.confirmed = confirmed
                sim.progress_at = now
