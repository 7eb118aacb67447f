"""Bad MQTT input becomes a visible dead letter and the consumer keeps going."""

from __future__ import annotations

from pathlib import Path

import pytest

from protocol import codec
from tests.harness import factories, mqtt_client
from tests.harness.mosquitto import Mosquitto
from tests.harness.processes import AgentProcess, HubProcess
from tests.harness.waiting import wait_for

pytestmark = pytest.mark.integration

TOPIC = "scantrail/v1/agents/pi-bad/scans"


def test_bad_payloads_are_dead_lettered_and_ingest_continues(
    tmp_path: Path, broker: Mosquitto, sqlite_url: str
) -> None:
    """Malformed JSON, wrong types, oversize and spoofed batches are each kept with a reason."""
    hub = HubProcess(tmp_path / "hub", sqlite_url, broker.port)
    hub.start()
    spoofed = codec.encode(factories.batch("pi-other"))
    oversized_events = b",".join(
        codec.encode(factories.scan_event("pi-bad", s)) for s in range(1, 502)
    )
    cases = {
        "malformed_json": b'{"agent_id": "pi-bad", "events": [',
        "invalid_payload": b'{"agent_id": "pi-bad", "incarnation": "i", "events": "nope"}',
        "too_large": b'{"agent_id":"pi-bad","incarnation":"inc1","events":['
        + oversized_events
        + b"]}",
        "agent_mismatch": spoofed,
    }
    for payload in cases.values():
        mqtt_client.publish(broker.port, TOPIC, payload)
    mqtt_client.publish(broker.port, TOPIC, b"\xff\xfe\x00garbage")
    agent = AgentProcess(tmp_path / "agent", "pi-good", broker.port)
    agent.start()
    try:

        def all_dead() -> list[dict[str, object]]:
            items: list[dict[str, object]] = hub.get("/api/v1/dead-letters")["items"]
            assert len(items) == 5
            return items

        letters = wait_for(all_dead, timeout=30)
        reasons = [d["reason"] for d in letters]
        assert reasons[:4] == list(cases)
        assert reasons[4] == "malformed_json"
        assert all(d["detail"] and d["topic"] == TOPIC for d in letters)
        assert letters[3]["agent_id"] == "pi-bad"
        alerts = hub.get("/api/v1/alerts")["items"]
        assert [a["kind"] for a in alerts] == ["spoofed_sender"]
        assert hub.all_scans("pi-other") == [] and hub.all_scans("pi-bad") == []

        assert agent.scan("AST-AFTER")["kept"]
        wait_for(lambda: _has(hub, "pi-good", "AST-AFTER"), timeout=30)
    finally:
        agent.stop()
        hub.stop()


def _has(hub: HubProcess, agent_id: str, raw: str) -> None:
    assert [s["raw"] for s in hub.all_scans(agent_id)] == [raw]


def test_same_key_with_other_content_raises_alert_and_keeps_first(
    tmp_path: Path, broker: Mosquitto, database_url: str
) -> None:
    """A replayed (agent, incarnation, seq) with new content never overwrites the stored scan."""
    hub = HubProcess(tmp_path / "hub", database_url, broker.port)
    hub.start()
    try:
        first = factories.batch("pi-x", range(1, 3))
        forged = factories.batch("pi-x", range(2, 3), raw="INS-FORGED")
        mqtt_client.publish(broker.port, "scantrail/v1/agents/pi-x/scans", codec.encode(first))
        mqtt_client.publish(broker.port, "scantrail/v1/agents/pi-x/scans", codec.encode(forged))

        def alerted() -> None:
            kinds = [a["kind"] for a in hub.get("/api/v1/alerts")["items"]]
            assert kinds == ["seq_conflict"]

        wait_for(alerted, timeout=30)
        assert [s["raw"] for s in hub.all_scans("pi-x")] == ["INS-0001", "INS-0002"]
    finally:
        hub.stop()
