"""Nothing confirmed is lost: kill -9, broker outages and store loss, hub crashes."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import pytest

from agent.errors import ControlError
from tests.harness import mqtt_client
from tests.harness.mosquitto import Mosquitto
from tests.harness.processes import AgentProcess, HubProcess
from tests.harness.waiting import wait_for

pytestmark = pytest.mark.integration


def _stream_until_killed(agent: AgentProcess, prefix: str, kept: list[str]) -> threading.Thread:
    def stream() -> None:
        n = 0
        while True:
            text = f"{prefix}-{n}"
            try:
                answer = agent.scan(text)
            except ControlError:
                return  # the agent died mid-request: this scan was never reported kept
            if answer.get("kept"):
                kept.append(text)
            n += 1

    thread = threading.Thread(target=stream, daemon=True)
    thread.start()
    return thread


def _wait_delivered(
    hub: HubProcess, agent_id: str, kept: list[str], timeout: float = 90
) -> list[dict[str, object]]:
    def delivered() -> list[dict[str, object]]:
        scans = hub.all_scans(agent_id)
        raws = {s["raw"] for s in scans}
        missing = [t for t in kept if t not in raws]
        assert not missing, f"{len(missing)} kept scans not at the hub yet, e.g. {missing[:3]}"
        return scans

    return wait_for(delivered, timeout=timeout, interval=0.25)


def _assert_exactly_once(scans: list[dict[str, object]]) -> None:
    raws = [s["raw"] for s in scans]
    assert len(raws) == len(set(raws)), "a scan was stored twice"
    seqs = sorted(int(str(s["seq"])) for s in scans)
    assert seqs == list(range(1, len(seqs) + 1)), "seqs must be gap-free across restarts"


def test_agent_kill_9_loses_no_kept_scan(
    tmp_path: Path, broker: Mosquitto, database_url: str
) -> None:
    """kill -9 at random moments mid-burst (10 rounds; the fault matrix runs 100, `make
    chaos`): every kept scan arrives exactly once, and the move session opened by the first
    scan survives them all."""
    rounds = 10
    rng = random.Random(20261121)
    hub = HubProcess(tmp_path / "hub", database_url, broker.port)
    agent = AgentProcess(tmp_path / "agent", "pi-kill", broker.port)
    hub.start()
    kept: list[str] = []
    try:
        for round_no in range(rounds):
            agent.start()
            streamer = _stream_until_killed(agent, f"AST-R{round_no}", kept)
            time.sleep(rng.uniform(0.05, 0.6))  # a random moment to kill at, not a wait
            agent.kill()
            streamer.join(timeout=30)
        assert len(kept) > 20, "the rounds must have kept a meaningful number of scans"
        agent.start()
        scans = _wait_delivered(hub, "pi-kill", kept)
        _assert_exactly_once(scans)
        sessions = {s["event"]["context"]["session_id"] for s in scans if s["raw"] in kept}
        assert sessions == {scans[0]["event"]["event_id"]}, "the open session must survive"
        wait_for(lambda: _backlog_zero(agent), timeout=30)
    finally:
        agent.stop()
        hub.stop()


def _backlog_zero(agent: AgentProcess) -> None:
    status = agent.status()
    assert status["backlog"] == 0, status


def _projected(hub: HubProcess, agent_id: str, seq: int) -> None:
    stream = hub.agent_row(agent_id)
    assert (stream["confirmed_seq"], stream["projected_seq"], stream["gap_since"]) == (
        seq,
        seq,
        None,
    )


def test_broker_outage_backlog_drains_in_seq_order(
    tmp_path: Path, broker: Mosquitto, sqlite_url: str
) -> None:
    """Scans kept while mosquitto is down all arrive once after it returns, and the records
    follow them to the last seq.

    The log's arrival order is not asserted: the hub and the agent reconnect on their own,
    and a batch the agent publishes before the hub has subscribed again is dropped by the
    broker and comes back as a resend, after later scans (held above the gap). The
    projector applies each agent's scans in seq order whatever their arrival order; the
    offline-day test checks the arrival order with the hub listening first."""
    hub = HubProcess(tmp_path / "hub", sqlite_url, broker.port)
    agent = AgentProcess(tmp_path / "agent", "pi-outage", broker.port)
    hub.start()
    agent.start()
    try:
        before = [f"AST-A{n}" for n in range(50)]
        assert all(agent.scan(t)["kept"] for t in before)
        _wait_delivered(hub, "pi-outage", before)
        broker.stop()
        during = [f"AST-B{n}" for n in range(300)]
        assert all(agent.scan(t)["kept"] for t in during), "scans must be kept with no broker"
        assert agent.status()["backlog"] == 300
        broker.start()
        scans = _wait_delivered(hub, "pi-outage", before + during)
        _assert_exactly_once(scans)
        wait_for(lambda: _projected(hub, "pi-outage", 350), timeout=60)
        wait_for(lambda: _backlog_zero(agent), timeout=30)
    finally:
        agent.stop()
        hub.stop()


def test_resend_recovers_scans_a_broker_lost_with_its_store(
    tmp_path: Path, broker: Mosquitto, sqlite_url: str
) -> None:
    """Scans the broker PUBACKed and then lost (kill -9, empty store) still reach the hub."""
    # A persistent subscriber makes the broker queue (and PUBACK with success) our scans.
    bystander = mqtt_client.connect(broker.port, client_id="bystander", persistent=True)
    subscribed = threading.Event()
    bystander.on_subscribe = lambda *args: subscribed.set()
    bystander.subscribe("scantrail/v1/agents/+/scans", qos=1)
    assert subscribed.wait(30), "no SUBACK"
    bystander.disconnect()
    bystander.loop_stop()

    agent = AgentProcess(tmp_path / "agent", "pi-lost", broker.port)
    agent.start()
    hub = HubProcess(tmp_path / "hub", sqlite_url, broker.port)
    try:
        texts = [f"AST-L{n}" for n in range(40)]
        assert all(agent.scan(t)["kept"] for t in texts)

        def broker_took_them() -> None:
            status = agent.status()
            assert status["broker_acked_seq"] == 40, status
            assert status["last_confirmed_seq"] == 0

        wait_for(broker_took_them, timeout=30)
        broker.kill()
        broker.wipe_store()
        broker.start()
        hub.start()
        scans = _wait_delivered(hub, "pi-lost", texts, timeout=60)
        _assert_exactly_once(scans)
        wait_for(lambda: _backlog_zero(agent), timeout=30)
    finally:
        agent.stop()
        hub.stop()


@pytest.mark.parametrize("crash_point", ["before_commit", "after_commit", "mid_projection"])
def test_hub_kill_9_at_each_checkpoint_loses_and_doubles_nothing(
    tmp_path: Path, broker: Mosquitto, database_url: str, crash_point: str
) -> None:
    """A hub killed just before or after its commit, or inside a projection step, loses no
    scan and stores none twice."""
    crashing = HubProcess(
        tmp_path / "hub1",
        database_url,
        broker.port,
        # Small projection steps, so a third one comes while the scans arrive.
        extra={"ingest": {"projection_step_scans": 20}},
        crash_at=crash_point,
        after=3,
    )
    agent = AgentProcess(tmp_path / "agent", "pi-hubcrash", broker.port)
    crashing.start()
    agent.start()
    texts = [f"AST-H{n}" for n in range(200)]
    try:
        for text in texts:
            assert agent.scan(text)["kept"]
        assert crashing.wait_exit(timeout=30) == -9, "the fault point must have been reached"
        restarted = HubProcess(tmp_path / "hub2", database_url, broker.port)
        restarted.start()
        try:
            scans = _wait_delivered(restarted, "pi-hubcrash", texts)
            _assert_exactly_once(scans)
            assert len(scans) == len(texts)
            wait_for(lambda: _backlog_zero(agent), timeout=30)
        finally:
            restarted.stop()
    finally:
        agent.stop()
        crashing.stop()
