"""A plain paho client for tests that play a spoofer or a bystander subscriber."""

from __future__ import annotations

import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


def connect(port: int, client_id: str | None = None, persistent: bool = False) -> mqtt.Client:
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id or f"test-{uuid.uuid4().hex[:8]}",
        protocol=MQTTProtocolVersion.MQTTv5,
    )
    props = None
    if persistent:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
    client.connect("127.0.0.1", port, clean_start=not persistent, properties=props)
    client.loop_start()
    return client


def publish(port: int, topic: str, payload: bytes) -> None:
    client = connect(port)
    try:
        info = client.publish(topic, payload, qos=1)
        info.wait_for_publish(timeout=10)
        assert info.is_published(), f"broker did not take {topic}"
    finally:
        client.disconnect()
        client.loop_stop()
