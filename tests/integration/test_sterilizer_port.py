"""The sterilizer's record through real parts: a sterilizer printing its cycle on a
pseudo-terminal at 38,400 baud, the station reading it as a serial port, mosquitto, and
the hub judging the cycle on its load. Each cycle is played faster than it runs: the hub
judges by the sterilizer's own clock (chaos/sterilizer.py)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chaos.sterilizer import FORMAT, Sterilizer, cycle
from tests.harness.mosquitto import Mosquitto
from tests.harness.processes import AgentProcess, HubProcess
from tests.harness.waiting import wait_for

pytestmark = pytest.mark.integration

AGENT = "pi-ste"
LINES_PER_S = 40.0  # a 392-line cycle in about 10 s


@dataclass
class Site:
    hub: HubProcess
    agent: AgentProcess
    sterilizer: Sterilizer


@pytest.fixture
def site(tmp_path: Path, broker: Mosquitto, sqlite_url: str) -> Iterator[Site]:
    hub = HubProcess(tmp_path / "hub", sqlite_url, broker.port)
    sterilizer = Sterilizer(tmp_path / "usb-Sterilizer_RS232-if00-port0")
    agent: AgentProcess | None = None
    try:
        hub.start()
        token = hub.cli("tokens", "create", "--role", "agent", "--name", AGENT).stdout.split()[-1]
        agent = AgentProcess(
            tmp_path / "agent",
            AGENT,
            broker.port,
            mode="sterilizer",
            extra={
                "sterilizer": {"code": "STE-A1", "path": str(sterilizer.link), **FORMAT},
                "reference": {"url": hub.base_url, "token": token, "interval_s": 3600},
            },
        )
        agent.start()
        wait_for(lambda: _port_open(agent), timeout=60)
        yield Site(hub, agent, sterilizer)
    finally:
        if agent is not None:
            agent.stop()
        sterilizer.close()
        hub.stop()


def _port_open(agent: AgentProcess) -> None:
    [port] = [s for s in agent.status()["scanners"] if s["type"] == "sterilizer"]
    assert port["connected"], port


def _open_load(agent: AgentProcess, number: int) -> None:
    for text in ("STE-A1", f"STE-A1.{number}", "CMD-TYPE-PREVAC", "INS-1", "TRY-7"):
        assert agent.scan(text)["kept"], text


def _judged(hub: HubProcess, number: int) -> dict[str, Any]:
    load = hub.get(f"/api/v1/loads/STE-A1.{number}")
    assert load["physical"] is not None and load["physical"]["result"] is not None, load
    return dict(load)


def _kept_lines(agent: AgentProcess) -> int:
    """Lines the station's outbox kept, read from its file (the agent may be dead)."""
    path = agent.config.parent / "data" / "outbox.db"
    with sqlite3.connect(path) as conn:
        return int(
            conn.execute("SELECT count(*) FROM outbox WHERE kind = 'readings'").fetchone()[0]
        )


def test_a_good_cycle_with_noise_passes_and_a_dip_fails_its_load_and_the_screen_says_so(
    site: Site,
) -> None:
    """A good cycle with noise on the line: every line read reaches the hub, the noise is
    kept as unreadable, the load passes and releases. A cycle that dips below its set point
    for 20 s fails its load before it is closed: a high alert names it, and the station's
    screen says STOP with the load and why."""
    hub, agent, sterilizer = site.hub, site.agent, site.sterilizer
    _open_load(agent, 1042)
    lines = cycle(1042)
    sterilizer.play(lines[:150], LINES_PER_S)
    sterilizer.noise(b"\x00\xff@@#\x13 STERIL\r\n\r\n#!%\r\n")
    sterilizer.play(lines[150:], LINES_PER_S)
    good = wait_for(lambda: _judged(hub, 1042), timeout=120)
    assert good["physical"]["result"] == "pass", good["physical"]
    assert good["physical"]["readings"] == 394 and good["physical"]["unreadable"] == 2
    assert agent.scan("CMD-CYCLE-PASS")["kept"]
    wait_for(lambda: _status(hub, 1042, "released"), timeout=60)

    _open_load(agent, 1043)
    sterilizer.play(cycle(1043, "dip"), LINES_PER_S)
    failed = wait_for(lambda: _judged(hub, 1043), timeout=120)
    assert failed["status"] == "failed" and failed["physical_result"] == "fail"
    assert "2 min 29 s; 4 min needed" in failed["physical_reason"]
    [alert] = hub.alerts("physical_failed")
    assert alert["severity"] == "high" and "load STE-A1.1043" in alert["detail"]
    screen = wait_for(lambda: _screen(agent), timeout=60)
    assert "Load STE-A1.1043 FAILED the sterilizer's record" in screen
    assert agent.scan("CMD-CYCLE-PASS")["kept"]  # a person passing it changes nothing
    wait_for(lambda: _status(hub, 1043, "failed"), timeout=60)
    assert len(hub.all_scans(AGENT)) == 10 + _kept_lines(agent) + 2  # scans, lines, closes


def test_an_aborted_cycle_fails_its_load(site: Site) -> None:
    """The sterilizer's ABORT line ends the cycle; the load fails with that reason."""
    _open_load(site.agent, 7)
    site.sterilizer.play(cycle(7, "aborted"), LINES_PER_S)
    judged = wait_for(lambda: _judged(site.hub, 7), timeout=120)
    assert judged["physical"]["aborted"] and judged["status"] == "failed"
    assert judged["physical_reason"].startswith("the sterilizer aborted the cycle")


def test_the_cable_unplugged_mid_exposure_leaves_a_gap_that_fails_the_load(site: Site) -> None:
    """The port goes away for 60 of the sterilizer's seconds in exposure and comes back:
    the station reopens it, every line it read is at the hub, and the gap fails the load."""
    hub, agent, sterilizer = site.hub, site.agent, site.sterilizer
    _open_load(agent, 8)
    lines = cycle(8)
    sterilizer.play(lines[:150], LINES_PER_S)
    wait_for(lambda: _read(agent, 150), timeout=30)  # not lines still in the port's buffer
    sterilizer.unplug()
    wait_for(lambda: _disconnected(agent), timeout=30)
    lost = lines[150:210]  # printed while the cable is out: nobody hears them
    sterilizer.play(lost, LINES_PER_S)
    sterilizer.plug()
    wait_for(lambda: _port_open(agent), timeout=60)
    sterilizer.play(lines[210:], LINES_PER_S)
    judged = wait_for(lambda: _judged(hub, 8), timeout=120)
    assert judged["physical_result"] == "fail" and judged["physical"]["longest_gap_s"] >= 60
    assert "during exposure: the record has a gap" in judged["physical_reason"]
    assert judged["physical"]["readings"] == _kept_lines(agent) == sterilizer.written


def test_an_agent_killed_mid_cycle_loses_nothing_it_read_and_the_gap_shows(
    site: Site,
) -> None:
    """kill -9 of the station in exposure: restarted, it carries on the same cycle; every
    line it had kept reaches the hub once; the lines printed while it was down are a gap
    that fails the load."""
    hub, agent, sterilizer = site.hub, site.agent, site.sterilizer
    _open_load(agent, 9)
    lines = cycle(9)
    player = threading.Thread(target=sterilizer.play, args=(lines, LINES_PER_S / 2))
    player.start()
    try:
        wait_for(lambda: _phase(agent, "exposure"), timeout=60)
        agent.kill()
        kept_before = _kept_lines(agent)
        agent.start()
    finally:
        player.join(timeout=120)
    judged = wait_for(lambda: _judged(hub, 9), timeout=120)
    assert judged["physical_result"] == "fail" and judged["physical"]["completed"]
    assert "the record has a gap" in judged["physical_reason"]
    kept = _kept_lines(agent)
    assert kept_before < kept < len(lines) and judged["physical"]["readings"] == kept
    seqs = [s["seq"] for s in hub.all_scans(AGENT)]
    assert sorted(seqs) == list(range(1, len(seqs) + 1))  # each once, none missing


def _status(hub: HubProcess, number: int, status: str) -> None:
    assert hub.get(f"/api/v1/loads/STE-A1.{number}")["status"] == status


def _screen(agent: AgentProcess) -> str:
    said = agent.status()["sterilizer"]["screen"]
    assert said, "the screen has said nothing yet"
    return str(said)


def _read(agent: AgentProcess, count: int) -> None:
    [port] = [s for s in agent.status()["scanners"] if s["type"] == "sterilizer"]
    assert port["lines"] == count, port


def _disconnected(agent: AgentProcess) -> None:
    [port] = [s for s in agent.status()["scanners"] if s["type"] == "sterilizer"]
    assert not port["connected"], port


def _phase(agent: AgentProcess, phase: str) -> None:
    assert agent.status()["sterilizer"]["phase"] == phase
