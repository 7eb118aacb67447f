"""A station and a hub given two brokers move to the second when the first dies, in the
order listed, and nothing the station kept is lost on the way (protocol/brokers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness.mosquitto import Mosquitto
from tests.harness.processes import AgentProcess, HubProcess
from tests.harness.waiting import wait_for

pytestmark = pytest.mark.integration


def _confirmed(agent: AgentProcess, seq: int) -> None:
    status = agent.status()
    assert status["last_confirmed_seq"] >= seq, status


def test_agent_and_hub_fail_over_to_the_next_broker_when_the_first_dies(
    tmp_path: Path, sqlite_url: str
) -> None:
    """Both list broker A then B. A is killed mid-shift: the station's next scans are
    confirmed through B, and the hub's records hold every scan once."""
    first, second = Mosquitto(tmp_path / "a"), Mosquitto(tmp_path / "b")
    standby = {"failover": [f"127.0.0.1:{second.port}"]}
    hub = HubProcess(tmp_path / "hub", sqlite_url, first.port, extra={"mqtt": standby})
    agent = AgentProcess(
        tmp_path / "porter", "pi-porter", first.port, mode="asset_move", extra={"mqtt": standby}
    )
    try:  # everything it started is stopped, even when a start fails
        for broker in (first, second):
            broker.workdir.mkdir()
            broker.start()
        hub.start()
        agent.start()
        for text in ("AST-1", "AST-2", "LOC-1"):
            assert agent.scan(text)["kept"]
        wait_for(lambda: _confirmed(agent, 3), timeout=60)
        first.kill()
        for text in ("AST-3", "LOC-2"):
            assert agent.scan(text)["kept"], "the station keeps scanning with its broker gone"
        wait_for(lambda: _confirmed(agent, 5), timeout=120)
        scans = hub.all_scans("pi-porter")
        assert sorted(s["seq"] for s in scans) == [1, 2, 3, 4, 5]
        wait_for(lambda: _located(hub), timeout=60)
    finally:
        agent.stop()
        hub.stop()
        second.kill()
        first.kill()


def _located(hub: HubProcess) -> None:
    places = {a["key"]: a["location"] for a in hub.records("assets")}
    assert places == {
        "site:AST-1": "site:LOC-1",
        "site:AST-2": "site:LOC-1",
        "site:AST-3": "site:LOC-2",
    }, places
