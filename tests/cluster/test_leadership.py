"""Which hub leads, on a real PostgreSQL: one leader at a time, a follower takes over when
the leader's connection ends, and every hub's row says its role."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from hub.cluster.leadership import Leadership, Role
from hub.errors import ConfigError
from hub.settings import load_settings
from hub.store import roster
from hub.store.db import create_engine, migrate
from hub.store.tables import alerts
from hub.web.wakeup import Notified
from tests.harness.postgres import Postgres
from tests.harness.waiting import wait_for


@pytest.fixture
def pg(postgres: Postgres) -> Iterator[Engine]:
    engine = create_engine(postgres.create_database())
    migrate(engine)
    yield engine
    engine.dispose()


def _roles(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        return {h["name"]: h["role"] for h in roster.rows(conn, datetime.now(UTC))}


def test_one_hub_leads_and_a_follower_takes_over_when_the_leader_goes(pg: Engine) -> None:
    """Two hubs tick: the first to try leads and the other follows; once the leader stops
    (its connection and its lock end), the follower leads at its next tick and is told so."""
    woken: list[str] = []
    a = Leadership(pg, "hub-a", 1.0, became_leader=lambda: woken.append("a"))
    b = Leadership(pg, "hub-b", 1.0, became_leader=lambda: woken.append("b"))
    try:
        a.tick()
        b.tick()
        assert (a.role, b.role) == (Role.LEADER, Role.FOLLOWER)
        b.tick()
        assert b.role is Role.FOLLOWER, "the lock is held: b keeps following"
        assert _roles(pg) == {"hub-a": "leader", "hub-b": "follower"}
        a.stop()
        b.tick()
        assert b.role is Role.LEADER
        assert woken == ["a", "b"]
    finally:
        a.stop()
        b.stop()


def test_a_leader_whose_connection_is_killed_follows_and_another_leads(pg: Engine) -> None:
    """The database ends the leader's connection (as a failover or an operator would): the
    lock goes with it, another hub leads, and the old leader follows from its next tick."""
    a = Leadership(pg, "hub-a", 1.0)
    b = Leadership(pg, "hub-b", 1.0)
    try:
        a.tick()
        with pg.connect() as conn:
            pid = roster.leader_backend(conn)
            assert pid is not None
            conn.execute(sa.select(sa.func.pg_terminate_backend(pid)))
        b.tick()
        assert b.role is Role.LEADER
        assert _roles(pg) == {"hub-a": "follower", "hub-b": "leader"}, "the lock says who leads"
        a.tick()
        assert a.role is Role.FOLLOWER
        a.tick()  # a new connection: it tries the lock again, and b holds it
        assert (a.role, b.role) == (Role.FOLLOWER, Role.LEADER)
    finally:
        a.stop()
        b.stop()


def test_a_running_leadership_thread_takes_over_within_its_tick(pg: Engine) -> None:
    """Threads, as the hub runs them: when the leader stops, the follower leads soon after."""
    a = Leadership(pg, "hub-a", 0.2)
    b = Leadership(pg, "hub-b", 0.2)
    a.start()
    wait_for(lambda: _assert(a.leading()), timeout=30)
    b.start()
    try:
        wait_for(lambda: _assert(_roles(pg).get("hub-b") == "follower"), timeout=30)
        a.stop()
        wait_for(lambda: _assert(b.leading()), timeout=30)
    finally:
        a.stop()
        b.stop()


def test_a_change_written_by_another_hub_wakes_the_streams_poller(pg: Engine) -> None:
    """The poller waits on NOTIFY: an alert committed on another connection ends its wait
    long before the wait's own timeout."""
    wakeup = Notified(pg)

    async def run() -> None:
        # The listener's first wake is its own: whatever changed before it listened.
        await asyncio.wait_for(wakeup.wait(timeout=600), timeout=60)
        assert wakeup.listening.is_set()
        waiting = asyncio.create_task(wakeup.wait(timeout=600))
        other = create_engine(pg.url.render_as_string(hide_password=False))
        with other.begin() as conn:
            row = {"created_at": datetime.now(UTC), "severity": "low", "kind": "t", "detail": "x"}
            conn.execute(sa.insert(alerts), [row])
        other.dispose()
        await asyncio.wait_for(waiting, timeout=60)

    asyncio.run(run())


def test_sqlite_refuses_a_shared_group(tmp_path: Path) -> None:
    """Several hubs cannot share a SQLite file: the setting is refused with what to do."""
    config = tmp_path / "hub.toml"
    config.write_text('database_url = "sqlite:///x.db"\n[cluster]\nshared_group = "hubs"\n')
    with pytest.raises(ConfigError, match="shared_group needs PostgreSQL"):
        load_settings(config)


def _assert(condition: bool) -> None:
    assert condition
