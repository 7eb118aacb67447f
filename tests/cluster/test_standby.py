"""PostgreSQL that survives its primary: the hub writes to a primary with a synchronous
standby through a multi-host URL; the primary is killed with SIGKILL while the hub drains
a station's backlog and the standby is promoted. Nothing the station had confirmed is
lost, and intake resumes on the promoted standby without restarting the hub."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.harness.mosquitto import Mosquitto
from tests.harness.postgres import Postgres
from tests.harness.processes import AgentProcess, HubProcess
from tests.harness.waiting import wait_for

pytestmark = pytest.mark.integration

SCANS = 400


@pytest.fixture
def pair() -> Iterator[tuple[Postgres, Postgres]]:
    """A primary and its synchronous standby, of this test's own (it kills the primary).
    Not under pytest's tmp dir: that is private to root, and the clusters run as postgres."""
    workdir = Path(tempfile.mkdtemp(prefix="scantrail-pg-pair-"))
    workdir.chmod(0o755)  # the clusters below it run as postgres
    primary = Postgres(workdir / "primary")
    primary.start()
    servers = [primary]
    try:
        standby = primary.standby(workdir / "standby")
        servers.append(standby)
        wait_for(lambda: _assert(primary.synchronous()), timeout=60)
        yield primary, standby
    finally:
        for server in servers:
            with contextlib.suppress(RuntimeError):  # the primary the test killed is down
                server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _assert(condition: bool) -> None:
    assert condition


def _confirmed(agent: AgentProcess, at_least: int) -> int:
    status = agent.status()
    assert status["last_confirmed_seq"] >= at_least, status
    return int(status["last_confirmed_seq"])


def _stored(dsn: str, agent_id: str) -> tuple[int, int, int]:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT count(*), count(DISTINCT seq), coalesce(max(seq), 0) FROM scan_log "
            "WHERE agent_id = %s",
            (agent_id,),
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def test_the_primary_killed_mid_drain_and_the_standby_promoted_loses_no_confirmed_scan(
    tmp_path: Path, broker: Mosquitto, pair: tuple[Postgres, Postgres]
) -> None:
    """The station keeps SCANS scans while the hub is down, then the hub drains them; the
    primary dies part way and the standby is promoted: every scan ends up confirmed and
    stored once on the new primary, the records follow, and the hub is the same process."""
    primary, standby = pair
    name = primary.create_database().rsplit("/", 1)[1]
    url = (
        f"postgresql://postgres@/{name}?host=127.0.0.1:{primary.port}"
        f"&host=127.0.0.1:{standby.port}&target_session_attrs=read-write"
    )
    hub = HubProcess(tmp_path / "hub", url, broker.port)
    # Drained at 100 scans a second, so the primary dies part way through.
    agent = AgentProcess(
        tmp_path / "porter", "pi-porter", broker.port, mode="asset_move", drain_rate=100.0
    )
    try:  # everything it started is stopped, even when a start fails
        agent.start()
        for n in range(SCANS):
            assert agent.scan(f"LOC-{n}" if n % 4 == 3 else f"AST-{n % 40}")["kept"]
        hub.start()
        pid = hub.proc.pid if hub.proc else None
        confirmed_at_kill = wait_for(lambda: _confirmed(agent, 50), timeout=120)
        primary.kill()
        assert confirmed_at_kill < SCANS, "the primary died mid-drain"
        standby.promote()
        dsn = f"host=127.0.0.1 port={standby.port} user=postgres dbname={name}"
        # What the station had confirmed when the primary died is on the standby.
        stored, _, _ = _stored(dsn, "pi-porter")
        assert stored >= confirmed_at_kill, (stored, confirmed_at_kill)
        wait_for(lambda: _confirmed(agent, SCANS), timeout=300)
        assert _stored(dsn, "pi-porter") == (SCANS, SCANS, SCANS)
        wait_for(lambda: _assert(hub.agent_row("pi-porter")["projected_seq"] == SCANS), timeout=120)
        assert hub.proc is not None and hub.proc.pid == pid, "the hub was never restarted"
    finally:
        agent.stop()
        hub.stop()
