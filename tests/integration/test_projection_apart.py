"""On PostgreSQL the projection runs apart from ingest: a projection step stuck on a lock
holds up the records, never the acks, and the records catch up once it is released."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from tests.harness.mosquitto import Mosquitto
from tests.harness.postgres import Postgres
from tests.harness.processes import AgentProcess, HubProcess
from tests.harness.waiting import wait_for

pytestmark = pytest.mark.integration


def _kept(agent: AgentProcess, *texts: str) -> None:
    for text in texts:
        assert agent.scan(text)["kept"], text


def _positions(hub: HubProcess, agent_id: str, confirmed: int, projected: int) -> None:
    row = hub.agent_row(agent_id)
    assert (row["confirmed_seq"], row["projected_seq"]) == (confirmed, projected), row


def test_scans_are_acked_while_a_projection_step_waits_on_a_lock_and_projected_after(
    tmp_path: Path, broker: Mosquitto, postgres: Postgres
) -> None:
    """Another session holds the assets table locked: the projector's step waits on it,
    yet the station's next scans are confirmed by the hub (acked) all the same; once the
    lock goes, every scan reaches the records exactly once."""
    url = postgres.create_database()
    hub = HubProcess(tmp_path / "hub", url, broker.port)
    agent = AgentProcess(tmp_path / "porter", "pi-porter", broker.port, mode="asset_move")
    hub.start()
    agent.start()
    try:
        _kept(agent, "AST-1", "LOC-1")
        wait_for(lambda: _positions(hub, "pi-porter", 2, 2), timeout=60)
        with psycopg.connect(url) as blocker, psycopg.connect(url, autocommit=True) as watch:
            blocker.execute("LOCK TABLE assets IN ACCESS EXCLUSIVE MODE")
            _kept(agent, "AST-2")
            wait_for(lambda: _confirmed_at_agent(agent, 3), timeout=60)
            wait_for(lambda: _someone_waits_on_a_lock(watch), timeout=60)  # the step is stuck
            _kept(agent, "AST-3", "LOC-2")
            # Acked: the agent's outbox is confirmed up to seq 5, the records still at 2.
            wait_for(lambda: _confirmed_at_agent(agent, 5), timeout=60)
            _positions(hub, "pi-porter", 5, 2)
            blocker.rollback()
        wait_for(lambda: _positions(hub, "pi-porter", 5, 5), timeout=60)
        places = {a["key"]: a["location"] for a in hub.records("assets")}
        assert places == {
            "site:AST-1": "site:LOC-1",
            "site:AST-2": "site:LOC-2",
            "site:AST-3": "site:LOC-2",
        }
        assert len(hub.records("assignments")) == 3, "each move applied once"
    finally:
        agent.stop()
        hub.stop()


def _confirmed_at_agent(agent: AgentProcess, seq: int) -> None:
    status = agent.status()
    assert status["last_confirmed_seq"] >= seq, status


def _someone_waits_on_a_lock(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    waiting = conn.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()
    assert waiting is not None and waiting[0] > 0, "no session waits on a lock yet"
