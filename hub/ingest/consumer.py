"""The paho edge of the hub. Callbacks only enqueue; the ingest worker acks after commit.

Backpressure reaches the broker in two steps: the broker sends at most Receive Maximum
unacked QoS 1 messages, and the queue holds that many and a little more. Should it still
fill (redeliveries after a reconnect), the callback blocks and paho stops reading the
socket. A QoS 0 heartbeat that finds the queue full is dropped: the next one replaces it.

Clean sessions: a consumer with a persistent session strands messages when it goes away
while sharing a subscription (research/edge-sync.md V7). Anything the broker drops while
no hub is subscribed comes back through the agents' resend timers.
"""

from __future__ import annotations

import queue
import threading
import uuid
from typing import Any

import paho.mqtt.client as mqtt
import structlog
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from hub.clock import HubClock
from hub.credentials import secret
from hub.ingest.triage import Message
from hub.ingest.web_writes import Waiting
from hub.settings import MqttSettings
from protocol.brokers import Brokers
from protocol.topics import EVENT_KINDS, QOS_BY_KIND, subscription

log = structlog.get_logger("hub.consumer")

KEEPALIVE_S = 30
QUEUE_SLACK = 64  # beyond Receive Maximum: status messages and a reconnect's redeliveries


def bounded_queue(settings: MqttSettings) -> Waiting:
    return queue.Queue(maxsize=settings.receive_maximum + QUEUE_SLACK)


class Consumer:
    def __init__(
        self,
        settings: MqttSettings,
        inbox: Waiting,
        clock: HubClock | None = None,
        shared_group: str | None = None,
    ) -> None:
        """``shared_group``: subscribe through ``$share/<group>/``, one of several hubs."""
        self._settings = settings
        self._group = shared_group
        self._inbox = inbox
        self._clock = clock or HubClock()
        self._client: mqtt.Client | None = None
        self._generation = 0
        self._lock = threading.Lock()
        self.connected = threading.Event()
        self._brokers = Brokers(settings.host, settings.port, settings.failover)
        self._stopping = False
        self._properties: Properties | None = None

    def start(self) -> None:
        s = self._settings
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=s.client_id or f"scantrail-hub-{uuid.uuid4().hex[:12]}",
            protocol=MQTTProtocolVersion.MQTTv5,
            manual_ack=True,
        )
        if s.username:
            client.username_pw_set(s.username, secret(s.password, s.password_credential))
        if s.tls_ca is not None:
            client.tls_set(
                ca_certs=str(s.tls_ca),
                certfile=str(s.tls_cert) if s.tls_cert else None,
                keyfile=str(s.tls_key) if s.tls_key else None,
            )
        client.reconnect_delay_set(min_delay=1, max_delay=10)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_connect_fail = lambda client, userdata: self._fail_over(client)
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.ReceiveMaximum = s.receive_maximum
        self._properties = props
        self._stopping = False
        # Set before the loop starts: a message can be stored and acked before start()
        # would otherwise return, and an ack with no client is silently skipped.
        self._client = client
        self._connect(client)
        client.loop_start()

    def _connect(self, client: mqtt.Client) -> None:
        host, port = self._brokers.current
        client.connect_async(
            host, port, keepalive=KEEPALIVE_S, clean_start=True, properties=self._properties
        )

    def _fail_over(self, client: mqtt.Client) -> None:
        """The next broker for paho's next reconnect (protocol/brokers.py), if there is one."""
        if self._brokers.several and not self._stopping:
            self._brokers.next()
            self._connect(client)

    def stop(self) -> None:
        self._stopping = True
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None

    def ack(self, message: Message) -> None:
        with self._lock:
            if self._client is not None and message.generation == self._generation:
                self._client.ack(message.mid, message.qos)

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        if self._client is not None:
            self._client.publish(topic, payload, qos=qos, retain=retain)

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, rc: ReasonCode, props: Any
    ) -> None:
        if rc.is_failure:
            log.error("mqtt.connect_refused", reason=str(rc))
            return
        with self._lock:
            self._generation += 1
        prefix = self._settings.topic_prefix
        filters = []
        for kind in (*EVENT_KINDS, "status", "health"):
            topic = subscription(prefix, kind)
            shared = f"$share/{self._group}/{topic}" if self._group else topic
            filters.append((shared, QOS_BY_KIND[kind]))
        client.subscribe(filters)
        log.info("mqtt.connected", generation=self._generation)
        self.connected.set()

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, rc: ReasonCode, props: Any
    ) -> None:
        self.connected.clear()
        log.warning("mqtt.disconnected", reason=str(rc))
        self._fail_over(client)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        message = Message(
            msg.topic, bytes(msg.payload), msg.mid, msg.qos, self._generation, *self._clock.stamp()
        )
        if msg.qos > 0:
            self._inbox.put(message)  # blocks only past Receive Maximum: stop reading
            return
        try:
            self._inbox.put_nowait(message)
        except queue.Full:
            log.warning("mqtt.heartbeat_dropped", topic=msg.topic)
