"""The paho-mqtt edge of the agent. Callbacks only enqueue; the sender thread does the rest.

paho owns reconnects (``reconnect_delay_set``); we jitter its bounds per process so a
fleet that lost its broker does not come back in lockstep. With brokers to fail over to,
a connection that fails or drops points paho's next reconnect at the next broker
(protocol/brokers.py).
"""

from __future__ import annotations

import queue
import random
import ssl
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from agent.credentials import secret
from agent.settings import MqttSettings
from protocol import codec
from protocol.brokers import Brokers
from protocol.messages import AgentStatus
from protocol.topics import REFERENCE_QOS, Topic, reference_topic


@dataclass(frozen=True)
class Connected:
    pass


@dataclass(frozen=True)
class Disconnected:
    reason: str
    refused: bool = False  # the broker refused the login (bad password, revoked, not allowed)
    certificate: str | None = None  # the broker's certificate was refused: CERTIFICATE_PROBLEMS


# OpenSSL's verify codes (X509_V_ERR_*) for a certificate outside its dates: a person can
# act on each (a clock, a renewal), unlike a bare "TLS failed".
CERT_NOT_YET_VALID, CERT_HAS_EXPIRED = 9, 10
CERTIFICATE_PROBLEMS = {
    CERT_NOT_YET_VALID: "broker_certificate_not_yet_valid",
    CERT_HAS_EXPIRED: "broker_certificate_expired",
}
CERTIFICATE_UNTRUSTED = "broker_certificate_untrusted"
CERTIFICATE_ALARMS = frozenset({*CERTIFICATE_PROBLEMS.values(), CERTIFICATE_UNTRUSTED})


def certificate_problem(error: BaseException | None) -> str | None:
    """The alarm for a TLS handshake that refused the broker's certificate, else None."""
    if not isinstance(error, ssl.SSLCertVerificationError):
        return None
    return CERTIFICATE_PROBLEMS.get(error.verify_code, CERTIFICATE_UNTRUSTED)


@dataclass(frozen=True)
class Published:
    mid: int
    reason_code: int


@dataclass(frozen=True)
class AckReceived:
    payload: bytes


LinkEvent = Connected | Disconnected | Published | AckReceived


class MqttLink:
    """Implements the sender's ``Transport`` port on a real broker."""

    def __init__(
        self,
        settings: MqttSettings,
        agent_id: str,
        will: AgentStatus,
        events: queue.Queue[Any],
        on_notice: Callable[[bytes], None] | None = None,
    ) -> None:
        """``on_notice`` takes the site's reference notice (it only sets a flag: paho's
        thread must not wait on the hub's API)."""
        self._settings = settings
        self._agent_id = agent_id
        self._will = will
        self._events = events
        self._on_notice = on_notice
        self._ack_topic = str(Topic(settings.topic_prefix, agent_id, "ack"))
        self._notice_topic = reference_topic(settings.topic_prefix)
        self._client: mqtt.Client | None = None
        self._brokers = Brokers(settings.host, settings.port, settings.failover)
        self._stopping = False

    def start(self) -> None:
        s = self._settings
        self._stopping = False
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self._agent_id,
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        if s.username:
            client.username_pw_set(s.username, secret(s.password, s.password_credential))
        if s.tls_ca is not None:
            client.tls_set(
                ca_certs=str(s.tls_ca),
                certfile=str(s.tls_cert) if s.tls_cert else None,
                keyfile=str(s.tls_key) if s.tls_key else None,
            )
        status_topic = str(Topic(s.topic_prefix, self._agent_id, "status"))
        client.will_set(status_topic, codec.encode(self._will), qos=1, retain=True)
        low = random.uniform(s.reconnect_min_s, 2 * s.reconnect_min_s)
        client.reconnect_delay_set(min_delay=max(1, round(low)), max_delay=round(s.reconnect_max_s))
        # paho's own queue is memory only; the outbox is the queue, so keep paho's small.
        client.max_queued_messages_set(200)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        # Set before the loop starts: its on_connect may reach the sender, which publishes
        # the online status through this link, before start() would otherwise return.
        self._client = client
        client.connect_async(*self._brokers.current, keepalive=s.keepalive_s)
        client.loop_start()

    def stop(self, last_words: AgentStatus | None = None) -> None:
        client = self._client
        if client is None:
            return
        self._stopping = True
        if last_words is not None and client.is_connected():
            status_topic = str(Topic(self._settings.topic_prefix, self._agent_id, "status"))
            info = client.publish(status_topic, codec.encode(last_words), qos=1, retain=True)
            if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
                info.wait_for_publish(timeout=2)
        client.disconnect()
        client.loop_stop()
        self._client = None

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> int | None:
        """Return the message id when paho took the message, ``None`` when it refused it.

        ``MQTT_ERR_NO_CONN`` still queues a QoS 1 message in paho, so it counts as taken.
        """
        if self._client is None:
            return None
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            return info.mid
        return None

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, rc: ReasonCode, props: Any
    ) -> None:
        if rc.is_failure:
            self._events.put(Disconnected(f"connect refused: {rc}", refused=True))
            return
        topics = [(self._ack_topic, 1)]
        if self._on_notice is not None:
            topics.append((self._notice_topic, REFERENCE_QOS))
        client.subscribe(topics)
        self._events.put(Connected())

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, rc: ReasonCode, props: Any
    ) -> None:
        self._events.put(Disconnected(str(rc)))
        self._fail_over(client)

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        """paho calls this inside its ``except OSError`` around a connect and passes no
        error, so the error being handled is the reason."""
        error = sys.exc_info()[1]
        self._events.put(
            Disconnected(f"connect failed: {error}", certificate=certificate_problem(error))
        )
        self._fail_over(client)

    def _fail_over(self, client: mqtt.Client) -> None:
        """Point paho's next reconnect at the next broker, when there is one. In paho's
        thread: its loop reconnects to what ``connect_async`` set."""
        if self._brokers.several and not self._stopping:
            host, port = self._brokers.next()
            client.connect_async(host, port, keepalive=self._settings.keepalive_s)

    def _on_publish(
        self, client: mqtt.Client, userdata: Any, mid: int, rc: ReasonCode, props: Any
    ) -> None:
        self._events.put(Published(mid, rc.value))

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if message.topic == self._ack_topic:
            self._events.put(AckReceived(bytes(message.payload)))
        elif message.topic == self._notice_topic and self._on_notice is not None:
            self._on_notice(bytes(message.payload))
