"""Stations keep giving catalogue feedback from their snapshot while the hub is down, and
a use they blocked reaches the hub as an alert once it is back (agent -> mosquitto -> hub,
and agent -> hub API for the snapshot)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.harness.mosquitto import Mosquitto
from tests.harness.processes import AgentProcess, HubProcess
from tests.harness.waiting import wait_for

REFERENCE = {
    "instruments": [
        {"code": "INS-1", "name": "Mayo scissors"},
        {"code": "INS-3", "name": "Retractor"},
        {"code": "INS-9", "name": "Needle holder"},
    ],
    "trays": [{"code": "TRY-7", "name": "Basic set", "recipe": {"INS-1": 1}}],
}


def _station(
    tmp_path: Path, broker: Mosquitto, hub: HubProcess, agent_id: str, mode: str
) -> AgentProcess:
    """A station that pulls the snapshot with its own agent token, and calls it stale after
    3 s without the hub's word."""
    made = hub.cli("tokens", "create", "--role", "agent", "--name", agent_id)
    assert made.returncode == 0, made.stderr
    token = made.stdout.split()[-1]
    reference = {"url": hub.base_url, "token": token, "interval_s": 0.5, "stale_after_s": 3}
    return AgentProcess(
        tmp_path / agent_id, agent_id, broker.port, mode=mode, extra={"reference": reference}
    )


def _snapshot(agent: AgentProcess, blocked: int) -> dict[str, Any]:
    found: dict[str, Any] = agent.status()["reference"]
    assert found["instruments"] == 3 and found["blocked"] == blocked, found
    return found


def test_a_station_blocks_and_warns_from_its_snapshot_while_the_hub_is_down(
    tmp_path: Path, broker: Mosquitto, sqlite_url: str
) -> None:
    """After INS-9's load fails, the hub stops: the OR station blocks INS-9 with the reason
    and the tray bench still flags INS-3 as not on TRY-7's count sheet, and the snapshot
    turns stale; when the hub is back the blocked attempt is a blocked_use alert."""
    hub = HubProcess(tmp_path / "hub", sqlite_url, broker.port)
    hub.start()
    for kind, rows in REFERENCE.items():
        path = tmp_path / f"{kind}.json"
        path.write_text(json.dumps(rows))
        assert hub.cli("import", kind, str(path)).returncode == 0
    ste = AgentProcess(tmp_path / "pi-ste", "pi-ste", broker.port, mode="sterilizer")
    bench = _station(tmp_path, broker, hub, "pi-bench", "tray_assembly")
    orr = _station(tmp_path, broker, hub, "pi-or", "point_of_use")
    agents = [ste, bench, orr]
    try:
        for agent in agents:
            agent.start()
        for text in ("STE-A1", "STE-A1.5", "INS-9", "CMD-CYCLE-FAIL"):
            assert ste.scan(text)["kept"]
        for station in (bench, orr):
            wait_for(lambda s=station: _snapshot(s, blocked=1), timeout=60)  # type: ignore[misc]
        wait_for(lambda: _heard_of_snapshot(hub, "pi-or"), timeout=60)
        hub.stop()

        assert bench.scan("TRY-7")["kept"]
        odd = bench.scan("INS-3")
        assert odd["kept"] and "not_in_count_sheet" in odd["warnings"]
        assert "count sheet" in odd["message"]
        assert orr.scan("CASE-1")["kept"]
        stopped = orr.scan("INS-9")
        assert stopped["outcome"] == "blocked" and not stopped["kept"]
        assert "do not use INS-9" in stopped["message"] and "failed" in stopped["message"]
        wait_for(lambda: _stale(orr), timeout=30)

        hub.start()
        alerts = wait_for(lambda: _blocked_use(hub), timeout=120)
        assert "site:INS-9" in alerts[0]["detail"]
        used = {u["item"] for u in hub.records("usage")}
        assert "site:INS-9" not in used
    finally:
        for agent in agents:
            agent.stop()
        hub.stop()


def _heard_of_snapshot(hub: HubProcess, agent_id: str) -> None:
    """The fleet view carries what the station's heartbeat says: its snapshot's age, its
    alarms and scanners, and the hub's clock offset estimate for it."""
    row = hub.agent_row(agent_id)
    assert row["reference_age_s"] is not None and row["reference_age_s"] < 60, row
    assert row["alarms"] == [] and row["scanners_connected"] == 0, row
    assert isinstance(row["clock_offset_s"], float), row


def _stale(agent: AgentProcess) -> None:
    """Past its limit without the hub, the station says its snapshot is stale."""
    status = agent.status()
    assert status["reference"]["stale"] and status["reference"]["age_s"] > 3, status["reference"]
    assert "reference_stale" in status["alarms"]


def _blocked_use(hub: HubProcess) -> list[dict[str, Any]]:
    found = hub.alerts("blocked_use")
    assert len(found) == 1, found
    return found
