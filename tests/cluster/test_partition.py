"""A hub cut from the broker (nftables drops its listener's packets) while the other hubs
go on: the stations' scans are confirmed all the same, through the hubs still connected,
and once the cut heals every scan is stored once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.network import PortCut
from tests.harness.cluster import Cluster
from tests.harness.fleet import SimulatedFleet
from tests.harness.mosquitto import Mosquitto
from tests.harness.postgres import Postgres
from tests.harness.waiting import wait_for

pytestmark = pytest.mark.integration

STATIONS = 12


@pytest.fixture
def two_listeners(tmp_path: Path) -> Iterator[Mosquitto]:
    server = Mosquitto(tmp_path / "mosquitto", second_port=True)
    server.workdir.mkdir()
    server.start()
    yield server
    server.kill()


def test_a_hub_cut_from_the_broker_leaves_the_others_confirming_every_scan(
    tmp_path: Path, two_listeners: Mosquitto, postgres: Postgres
) -> None:
    """hub-2 reaches the broker on a listener of its own, which is cut for 15 s while the
    stations scan: every scan sent while it was cut is confirmed before the cut heals (the
    stations re-send what the cut hub took, and the other hubs take it), and in the end
    each scan is stored once."""
    broker = two_listeners
    assert broker.second_port is not None
    cluster = Cluster(
        tmp_path, postgres.create_database(), broker.port, ports={2: broker.second_port}
    )
    cut = PortCut(broker.second_port)
    fleet = SimulatedFleet(broker.port, STATIONS, tag="part")
    try:  # everything it started is stopped, even when a start fails
        cluster.start()
        fleet.start()
        time.sleep(3)
        cut.cut()
        time.sleep(15)
        fleet.stop_scanning()
        sent = fleet.scans
        wait_for(fleet.settled, timeout=180)  # with hub-2 still cut off
        assert fleet.scans == sent
        cut.heal()
        stored = cluster.stored()
        assert {a: stored.get(a) for a in fleet.last_seqs()} == {
            a: (n, n, n) for a, n in fleet.last_seqs().items()
        }
        assert all(hub.proc is not None for hub in cluster.hubs), "no hub died of it"
    finally:
        cut.heal()
        fleet.close()
        cluster.stop()
