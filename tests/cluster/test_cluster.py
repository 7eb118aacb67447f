"""Three hubs on one PostgreSQL behind one mosquitto, simulated stations and two real
agents scanning, hubs killed with SIGKILL and started again: every confirmed scan is
stored once, the records equal what one projector derives from the same scans, and the
projector fails over each time its leader dies.

The short run is in ``make test``; the long one (200 stations, a hub killed every 20 s
for 2 minutes) in ``make chaos``."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.harness.cluster import Cluster
from tests.harness.fleet import SimulatedFleet
from tests.harness.mosquitto import Mosquitto
from tests.harness.postgres import Postgres
from tests.harness.processes import AgentProcess, HubProcess
from tests.harness.waiting import wait_for

pytestmark = pytest.mark.integration


class Scanning:
    """A person at a real agent, scanning every ``every_s`` until stopped."""

    def __init__(self, agent: AgentProcess, texts: list[str], every_s: float = 0.3) -> None:
        self._agent = agent
        self._texts = texts
        self._every_s = every_s
        self._stop = threading.Event()
        self.kept = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        n = 0
        while not self._stop.wait(self._every_s):
            if self._agent.scan(self._texts[n % len(self._texts)])["kept"]:
                self.kept += 1
            n += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def _all_confirmed(agent: AgentProcess) -> int:
    """Everything the agent kept is confirmed; how many it kept."""
    status = agent.status()
    assert status["last_confirmed_seq"] == status["last_seq"], status
    return int(status["last_seq"])


def _caught_up(cluster: Cluster) -> None:
    status = cluster.status()
    assert status["projection"]["lag_scans"] == 0, status["projection"]


def _led_by_another(cluster: Cluster, gone: str) -> None:
    leader = cluster.leader()
    assert leader.api_port != cluster.named(gone).api_port


def _projected_total(hub: HubProcess) -> int:
    """Scans in the records, across every stream."""
    return sum(a["projected_seq"] for a in hub.get("/api/v1/agents")["items"])


def _projecting(cluster: Cluster, since: int) -> None:
    """The records moved past ``since`` scans projected."""
    projected = _projected_total(cluster.running()[0])
    assert projected > since, f"still {projected} projected"


@pytest.mark.parametrize(
    ("stations", "kills", "every_s"),
    [
        pytest.param(20, 2, 8.0, id="short"),
        pytest.param(200, 6, 20.0, id="long", marks=pytest.mark.long),
    ],
)
def test_hubs_killed_in_turn_lose_nothing_and_the_projector_fails_over(
    tmp_path: Path, broker: Mosquitto, postgres: Postgres, stations: int, kills: int, every_s: float
) -> None:
    """Kill the leader, then a follower, in turn, ``kills`` times ``every_s`` apart, each
    started again at once: every scan the stations sent is confirmed and stored once, the
    projector moves on under a new leader each time, and a rebuild (one projector from the
    scan log) finds the records equal."""
    cluster = Cluster(tmp_path, postgres.create_database(), broker.port)
    agents = [
        AgentProcess(tmp_path / "porter", "pi-porter", broker.port, mode="asset_move"),
        AgentProcess(tmp_path / "bench", "pi-bench", broker.port, mode="asset_move"),
    ]
    fleet = SimulatedFleet(broker.port, stations)
    people: list[Scanning] = []
    failovers: list[float] = []
    try:  # everything it started is stopped, even when a start fails
        cluster.start()
        for agent in agents:
            agent.start()
        people += [
            Scanning(agents[0], [f"AST-P{n}" if n % 3 else f"LOC-P{n % 5}" for n in range(60)]),
            Scanning(agents[1], [f"AST-B{n}" if n % 4 else f"LOC-B{n % 3}" for n in range(60)]),
        ]
        fleet.start()
        for kill in range(kills):
            time.sleep(every_s)
            wait_for(lambda: cluster.leader(), timeout=60)
            leader = cluster.leader()
            victim = (
                leader if kill % 2 == 0 else next(h for h in cluster.running() if h is not leader)
            )
            name = f"hub-{cluster.hubs.index(victim)}"
            before = _projected_total(victim)
            victim.kill()
            died = time.monotonic()
            if victim is leader:
                wait_for(lambda n=name: _led_by_another(cluster, n), timeout=60)
                wait_for(lambda b=before: _projecting(cluster, b), timeout=60)
                failovers.append(time.monotonic() - died)
            victim.start()
        fleet.stop_scanning()
        for person in people:
            person.stop()
        wait_for(fleet.settled, timeout=300)
        for agent in agents:
            wait_for(lambda a=agent: _all_confirmed(a), timeout=300)
        wait_for(lambda: _caught_up(cluster), timeout=300)

        assert all(person.kept for person in people), "the people scanned"
        stored = cluster.stored()
        sent = {
            **fleet.last_seqs(),
            **{agent.agent_id: _all_confirmed(agent) for agent in agents},
        }
        assert {a: stored.get(a) for a in sent} == {a: (n, n, n) for a, n in sent.items()}, (
            "each scan stored once, none missing"
        )
        status = cluster.status()
        assert sorted(h["name"] for h in status["hubs"] if h["running"]) == [
            "hub-0",
            "hub-1",
            "hub-2",
        ]
        assert sum(h["role"] == "leader" for h in status["hubs"]) == 1
        assert len(failovers) == (kills + 1) // 2
        rebuilt = cluster.hubs[0].cli("rebuild")
        assert rebuilt.returncode == 0, rebuilt.stderr
        differed = [
            line for line in rebuilt.stdout.splitlines() if not line.endswith(" 0 differed")
        ]
        assert not differed, rebuilt.stdout
    finally:
        fleet.close()
        for person in people:
            person.stop()
        for agent in agents:
            agent.stop()
        cluster.stop()
    print(f"projector failover after the leader's death: {[round(s, 1) for s in failovers]} s")
