"""A quarantine reaches the OR without waiting for the station's poll: the hub publishes
the retained reference notice when the set of unsafe items changes, and the station pulls at once
(agent -> mosquitto -> hub, hub -> mosquitto -> agent, agent -> hub API)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.harness.mosquitto import Mosquitto
from tests.harness.processes import AgentProcess, HubProcess
from tests.harness.waiting import wait_for

pytestmark = pytest.mark.integration

# Longer than the test: only the notice (or the pull every agent makes as it starts) can
# bring the station a new snapshot.
POLL_S = 3600


def _blocked(agent: AgentProcess, count: int) -> None:
    found = agent.status()["reference"]
    assert found["blocked"] == count and found["last_error"] is None, found


def _fail_bi(ste: AgentProcess, label: str, item: str) -> None:
    """A load that passed its cycle, then failed its biological indicator."""
    for text in ("STE-A1", label, item, "CMD-CYCLE-PASS", label, "CMD-BI-FAIL"):
        assert ste.scan(text)["kept"], text


def _stopped(orr: AgentProcess, case: str, item: str) -> None:
    assert orr.scan(case)["kept"]
    said = orr.scan(item)
    assert said["outcome"] == "blocked" and not said["kept"], said
    assert f"do not use {item}" in said["message"], said


def test_a_failed_bi_reaches_the_or_by_notice_also_after_the_station_restarts(
    tmp_path: Path, broker: Mosquitto, sqlite_url: str
) -> None:
    """With its poll an hour away, the OR station learns of a failed BI from the hub's
    notice and stops the instrument; after a restart it resubscribes and the next failed
    BI stops the next one the same way."""
    hub = HubProcess(tmp_path / "hub", sqlite_url, broker.port)
    hub.start()
    rows = [{"code": f"INS-{n}", "name": f"Clamp {n}"} for n in (7, 8, 9)]
    (tmp_path / "instruments.json").write_text(json.dumps(rows))
    assert hub.cli("import", "instruments", str(tmp_path / "instruments.json")).returncode == 0
    token = hub.cli("tokens", "create", "--role", "agent", "--name", "pi-or").stdout.split()[-1]
    reference = {"url": hub.base_url, "token": token, "interval_s": POLL_S}
    ste = AgentProcess(tmp_path / "pi-ste", "pi-ste", broker.port, mode="sterilizer")
    orr = AgentProcess(
        tmp_path / "pi-or",
        "pi-or",
        broker.port,
        mode="point_of_use",
        extra={"reference": reference},
    )
    try:
        ste.start()
        orr.start()
        wait_for(lambda: _blocked(orr, 0), timeout=60)

        _fail_bi(ste, "STE-A1.5", "INS-9")
        wait_for(lambda: _blocked(orr, 1), timeout=60)
        _stopped(orr, "CASE-1", "INS-9")

        orr.stop()
        orr.start()
        wait_for(lambda: _blocked(orr, 1), timeout=60)
        _fail_bi(ste, "STE-A1.6", "INS-8")
        wait_for(lambda: _blocked(orr, 2), timeout=60)
        _stopped(orr, "CASE-2", "INS-8")
    finally:
        orr.stop()
        ste.stop()
        hub.stop()
