"""The outbox under pressure: a full disk budget, and a corrupt database file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness.mosquitto import Mosquitto
from tests.harness.processes import AgentProcess, HubProcess
from tests.harness.waiting import wait_for

pytestmark = pytest.mark.integration


def test_full_store_refuses_new_scans_and_keeps_old_ones(
    tmp_path: Path, broker: Mosquitto, sqlite_url: str
) -> None:
    """At its budget the outbox refuses scans loudly, evicts nothing, and delivers what it kept."""
    agent = AgentProcess(tmp_path / "agent", "pi-full", broker.port, max_bytes=64 * 1024)
    agent.start()
    try:
        kept: list[str] = []
        answer: dict[str, object] = {}
        for n in range(5000):
            answer = agent.scan(f"AST-FULL-{n:05d}")
            if not answer["kept"]:
                break
            kept.append(f"AST-FULL-{n:05d}")
        assert answer["outcome"] == "store_full", "the budget must be reached"
        assert len(kept) > 20
        assert agent.scan("AST-AGAIN")["outcome"] == "store_full"
        status = agent.status()
        assert "store_full" in status["alarms"] and status["backlog"] == len(kept)

        hub = HubProcess(tmp_path / "hub", sqlite_url, broker.port)
        hub.start()
        try:

            def delivered() -> None:
                assert sorted(s["raw"] for s in hub.all_scans("pi-full")) == kept

            wait_for(delivered, timeout=60)
        finally:
            hub.stop()
    finally:
        agent.stop()


def test_corrupt_outbox_is_moved_aside_and_a_new_incarnation_starts(
    tmp_path: Path, broker: Mosquitto
) -> None:
    """A corrupt file does not crash-loop the agent: it is kept aside and an alarm is raised."""
    agent = AgentProcess(tmp_path / "agent", "pi-corrupt", broker.port)
    agent.start()
    assert agent.scan("AST-1")["kept"]
    first = agent.status()["incarnation"]
    agent.kill()
    outbox = tmp_path / "agent" / "data" / "outbox.db"
    for suffix in ("-wal", "-shm"):
        outbox.with_name(outbox.name + suffix).unlink(missing_ok=True)
    outbox.write_bytes(b"SQLite format 3\x00" + b"\xde\xad" * 4000)
    agent.start()
    try:
        status = agent.status()
        assert "store_corrupt_recovered" in status["alarms"]
        assert status["incarnation"] != first
        answer = agent.scan("AST-2")
        assert answer["kept"] and answer["seq"] == 1
        aside = list(outbox.parent.glob("outbox.corrupt-*.db"))
        assert len(aside) == 1
    finally:
        agent.stop()
