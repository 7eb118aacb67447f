"""One path through real parts: scan → agent outbox → mosquitto → hub → API."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.harness.mosquitto import Mosquitto
from tests.harness.processes import AgentProcess, HubProcess
from tests.harness.waiting import wait_for

pytestmark = pytest.mark.integration


def test_thousand_scans_reach_the_hub_exactly_once(
    tmp_path: Path, broker: Mosquitto, database_url: str
) -> None:
    """1,000 scans sent through the scan socket are each in the hub's log once, backlog 0."""
    hub = HubProcess(tmp_path / "hub", database_url, broker.port)
    agent = AgentProcess(tmp_path / "agent", "pi-e2e", broker.port)
    hub.start()
    agent.start()
    try:
        texts = [f"AST-{n:05d}" for n in range(1000)]
        answers = [agent.scan(text) for text in texts]
        assert all(a["kept"] for a in answers)
        assert [a["seq"] for a in answers] == list(range(1, 1001))

        def all_there() -> list[dict[str, object]]:
            scans = hub.all_scans("pi-e2e")
            assert len(scans) == 1000
            return scans

        scans = wait_for(all_there, timeout=60)
        assert sorted(s["raw"] for s in scans) == sorted(texts)
        assert sorted(s["seq"] for s in scans) == list(range(1, 1001))

        def drained() -> None:
            status = agent.status()
            assert status["backlog"] == 0 and status["last_confirmed_seq"] == 1000

        wait_for(drained, timeout=30)
        # Online comes from the retained status message, which may be applied after the
        # last ack (CI5 on a loaded machine): wait for both.
        wait_for(lambda: _agent_row(hub, "pi-e2e", confirmed_seq=1000, online=True), timeout=60)
    finally:
        agent.stop()
        hub.stop()


def _agent_row(hub: HubProcess, agent_id: str, **expected: object) -> dict[str, object]:
    rows = {a["agent_id"]: a for a in hub.get("/api/v1/agents")["items"]}
    assert agent_id in rows
    row = rows[agent_id]
    for key, value in expected.items():
        assert row[key] == value, (key, row)
    return row


def test_scan_and_status_commands_speak_json(
    tmp_path: Path, broker: Mosquitto, sqlite_url: str
) -> None:
    """`scan` exits 0 with a kept JSON line, non-zero when refused; `status --json` parses."""
    hub = HubProcess(tmp_path / "hub", sqlite_url, broker.port)
    agent = AgentProcess(tmp_path / "agent", "pi-cli", broker.port)
    hub.start()
    agent.start()
    try:
        kept = agent.cli("scan", "AST-0042")
        assert kept.returncode == 0, kept.stderr
        assert json.loads(kept.stdout)["outcome"] == "kept"
        refused = agent.cli("scan", "\r\n")
        assert refused.returncode == 1
        assert json.loads(refused.stdout)["outcome"] == "empty"

        def confirmed() -> dict[str, object]:
            done = agent.cli("status", "--json")
            status: dict[str, object] = json.loads(done.stdout)
            assert status["last_confirmed_seq"] == 1 and status["backlog"] == 0
            return status

        status = wait_for(confirmed, timeout=30)
        assert status["connection"] == "connected"
        assert status["oldest_unconfirmed_age_s"] is None
    finally:
        agent.stop()
        hub.stop()
    offline = json.loads(agent.cli("status", "--json").stdout)
    assert offline["connection"] == "agent_not_running" and offline["backlog"] == 0


def test_dashboard_sees_offline_will_stopped_and_backlog(
    tmp_path: Path, broker: Mosquitto, sqlite_url: str
) -> None:
    """kill -9 makes the broker publish the agent's offline will; a clean stop says stopped."""
    hub = HubProcess(tmp_path / "hub", sqlite_url, broker.port)
    agent = AgentProcess(tmp_path / "agent", "pi-will", broker.port, keepalive_s=5)
    hub.start()
    agent.start()
    try:
        assert agent.scan("AST-1")["kept"]
        wait_for(lambda: _agent_row(hub, "pi-will", state="online", backlog=0), timeout=30)
        agent.kill()
        wait_for(lambda: _agent_row(hub, "pi-will", state="offline", online=False), timeout=30)
        agent.start()
        wait_for(lambda: _agent_row(hub, "pi-will", state="online"), timeout=30)
        agent.stop()
        wait_for(lambda: _agent_row(hub, "pi-will", state="stopped"), timeout=30)
        signed_in = {
            "scantrail_token": hub.token
        }  # a token in the cookie opens it as a session does
        page = httpx.get(f"{hub.base_url}/", cookies=signed_in, timeout=10)
        assert page.status_code == 200 and "pi-will" in page.text and "stopped" in page.text
    finally:
        agent.stop()
        hub.stop()
