"""The hub's live path under bad data and a database that goes away, through the real path:
agent → mosquitto → hub (its CLI) → database, on SQLite and PostgreSQL."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.harness.mosquitto import Mosquitto
from tests.harness.postgres import Postgres
from tests.harness.processes import AgentProcess, HubProcess
from tests.harness.waiting import wait_for

pytestmark = pytest.mark.integration

LONG_CYCLE = "STE-A1." + "9" * 40  # a cycle number of 40 digits: the column held 32
LONG_CONDITION = "CMD-COND-" + "X" * 100  # the wire allows 128, the column held 64


def _kept(agent: AgentProcess, *texts: str) -> None:
    for text in texts:
        answer = agent.scan(text)
        assert answer["kept"], (text, answer)


def _caught_up(hub: HubProcess, agent_id: str, seq: int) -> None:
    row = hub.agent_row(agent_id)
    assert (row["confirmed_seq"], row["projected_seq"]) == (seq, seq), row


def test_values_as_long_as_the_wire_allows_are_stored_whole_and_applied(
    tmp_path: Path, broker: Mosquitto, database_url: str
) -> None:
    """A 40-digit cycle number and a 100-character return condition are kept, stored whole
    in the raw log, applied to the records, and the hub takes the next scans as usual."""
    hub = HubProcess(tmp_path / "hub", database_url, broker.port)
    spd = AgentProcess(tmp_path / "spd", "pi-spd", broker.port, mode="sterilizer")
    orr = AgentProcess(tmp_path / "or", "pi-or", broker.port, mode="point_of_use")
    hub.start()
    spd.start()
    orr.start()
    try:
        _kept(spd, "STE-A1", LONG_CYCLE, "INS-1", "CMD-CYCLE-PASS")
        _kept(orr, "CASE-1", "INS-1", "CMD-RETURN", LONG_CONDITION, "INS-1")
        _kept(spd, "STE-A1", "STE-A1.7", "INS-2", "CMD-CYCLE-PASS")  # the next load
        wait_for(lambda: _caught_up(hub, "pi-spd", 8), timeout=60)
        wait_for(lambda: _caught_up(hub, "pi-or", 5), timeout=60)
        raws = {s["raw"] for s in hub.all_scans()}
        assert {LONG_CYCLE, LONG_CONDITION} <= raws
        cycles = sorted(hub.records("cycles"), key=lambda c: str(c["started_key"]))
        assert [(c["cycle_number"], c["status"]) for c in cycles] == [
            ("9" * 40, "released"),
            ("7", "released"),
        ]
        (usage,) = hub.records("usage")
        assert usage["condition"] == "x" * 100 and usage["returned_at"] is not None
        assert hub.alerts("reconcile_failed") == []
    finally:
        spd.stop()
        orr.stop()
        hub.stop()


def _refuse_instrument(database_url: str, code: str) -> None:
    """Make the database itself refuse one value, as a too-long value or a constraint
    would: a CHECK constraint on PostgreSQL, a trigger raising ABORT on SQLite."""
    if database_url.startswith("sqlite"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as conn:
            conn.execute(
                f"CREATE TRIGGER refuse BEFORE INSERT ON items WHEN NEW.key LIKE '%{code}' "
                "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
            )
        return
    with psycopg.connect(database_url) as conn:
        conn.execute(f"ALTER TABLE items ADD CONSTRAINT refuse CHECK (key NOT LIKE '%{code}')")


def test_a_value_the_database_refuses_sets_one_scan_aside_and_the_line_goes_on(
    tmp_path: Path, broker: Mosquitto, database_url: str
) -> None:
    """When the database refuses what one scan would write, that scan stays stored and
    confirmed, a high reconcile_failed alert names it, and the scans after it are applied;
    the hub keeps running and healthy."""
    hub = HubProcess(tmp_path / "hub", database_url, broker.port)
    assert hub.cli("migrate").returncode == 0
    _refuse_instrument(database_url, "INS-POISON")
    tray = AgentProcess(tmp_path / "tray", "pi-tray", broker.port, mode="tray_assembly")
    hub.start()
    tray.start()
    try:
        _kept(tray, "TRY-1", "INS-1", "INS-POISON", "INS-2", "CMD-COMPLETE")
        wait_for(lambda: _caught_up(hub, "pi-tray", 5), timeout=60)
        wait_for(lambda: hub.alerts("reconcile_failed"), timeout=30)
        (alert,) = hub.alerts("reconcile_failed")
        assert alert["severity"] == "high" and "(seqs 3)" in alert["detail"]
        (checklist,) = hub.records("tray-checklists")
        assert checklist["status"] in ("complete", "short") and checklist["count"] == 2
        assert {i["key"] for i in hub.records("items")} == {
            "site:TRY-1",
            "site:INS-1",
            "site:INS-2",
        }
        assert len(hub.all_scans("pi-tray")) == 5
        assert hub.get("/healthz")["status"] == "ok"
    finally:
        tray.stop()
        hub.stop()


# -- the database goes away and comes back ------------------------------------------------------


@pytest.fixture
def own_postgres() -> Iterator[Postgres]:
    """A PostgreSQL cluster of this test's own, which it may stop and start."""
    workdir = Path(tempfile.mkdtemp(prefix="scantrail-pg-outage-"))
    server = Postgres(workdir)
    server.start()
    yield server
    try:
        server.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _health(hub: HubProcess) -> str:
    try:
        response = httpx.get(f"{hub.base_url}/healthz", timeout=5)
    except httpx.HTTPError as exc:
        raise AssertionError(f"the hub does not answer: {exc}") from exc
    return str(response.json()["status"])


def _status_is(hub: HubProcess, wanted: str) -> None:
    assert hub.proc is not None and hub.proc.poll() is None, "the hub exited"
    assert _health(hub) == wanted


OUTAGE_S = 10


def _outage(hub: HubProcess, agent: AgentProcess, stop: Any, start: Any) -> None:
    """Scan before, during and after an outage of OUTAGE_S seconds; every scan once."""
    first = [f"AST-O{n}" for n in range(20)] + ["LOC-1"]
    _kept(agent, *first)
    wait_for(lambda: _caught_up(hub, agent.agent_id, len(first)), timeout=60)
    stop()
    during = [f"AST-P{n}" for n in range(30)] + ["LOC-2"]
    _kept(agent, *during)  # the station keeps confirming: its outbox holds them
    wait_for(lambda: _status_is(hub, "unavailable"), timeout=60)
    # The outage itself: the hub must stay up and say so throughout, asked twice a second.
    ends = time.monotonic() + OUTAGE_S
    while time.monotonic() < ends:
        _status_is(hub, "unavailable")
        time.sleep(0.5)
    start()
    wait_for(lambda: _status_is(hub, "ok"), timeout=120)
    after = [f"AST-Q{n}" for n in range(5)] + ["LOC-3"]
    _kept(agent, *after)
    total = len(first) + len(during) + len(after)
    wait_for(lambda: _caught_up(hub, agent.agent_id, total), timeout=120)
    scans = hub.all_scans(agent.agent_id)
    assert sorted(s["seq"] for s in scans) == list(range(1, total + 1)), "each scan once"
    moved = {a["key"]: a["location"] for a in hub.records("assets")}
    assert len(moved) == 55 and set(moved.values()) == {"site:LOC-1", "site:LOC-2", "site:LOC-3"}
    assignments = hub.records("assignments")
    assert len(assignments) == 55, "each move applied exactly once"


def test_postgresql_stopped_then_started_loses_nothing(
    tmp_path: Path, broker: Mosquitto, own_postgres: Postgres
) -> None:
    """With PostgreSQL stopped (OUTAGE_S) the hub stays up, says unavailable on /healthz and acks
    nothing; when it starts again the hub resumes by itself and every scan confirmed at
    the station is applied exactly once."""
    hub = HubProcess(tmp_path / "hub", own_postgres.create_database(), broker.port)
    agent = AgentProcess(tmp_path / "agent", "pi-pg", broker.port, mode="asset_move")
    hub.start()
    agent.start()
    try:
        _outage(hub, agent, own_postgres.stop, own_postgres.start_again)
    finally:
        agent.stop()
        hub.stop()


def test_a_sqlite_file_locked_by_another_process_loses_nothing(
    tmp_path: Path, broker: Mosquitto, sqlite_url: str
) -> None:
    """Another process holding the SQLite file's write lock (OUTAGE_S) makes the database
    unavailable to the hub: it stays up, says so, and resumes with nothing lost once the
    lock goes."""
    hub = HubProcess(tmp_path / "hub", sqlite_url, broker.port)
    agent = AgentProcess(tmp_path / "agent", "pi-lite", broker.port, mode="asset_move")
    hub.start()
    agent.start()
    holder: list[sqlite3.Connection] = []

    def lock() -> None:
        conn = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        holder.append(conn)

    def unlock() -> None:
        conn = holder.pop()
        conn.execute("ROLLBACK")
        conn.close()

    try:
        _outage(hub, agent, lock, unlock)
    finally:
        while holder:
            unlock()
        agent.stop()
        hub.stop()
