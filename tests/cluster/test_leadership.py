"""Several hubs on a real PostgreSQL: one leader at a time, a follower takes over when the
leader's connection ends, every hub's row says its role, a change any hub writes wakes
every hub's streams, and what a browser began on one hub another finishes."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from hub.access import csrf
from hub.access.roles import Role as Person
from hub.cluster.leadership import Leadership, Role
from hub.errors import ConfigError
from hub.settings import load_settings
from hub.store import roster, users
from hub.store.db import create_engine, migrate
from hub.store.tables import alerts
from hub.web import guard
from hub.web.app import create_app
from hub.web.wakeup import Notified
from tests.harness.api import Client, make_token
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
        wait_for(lambda: _ticked_to_lead(b), timeout=60)  # once a's backend has ended
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
        # The backend ends, and its lock with it, a moment after it is told to.
        wait_for(lambda: _ticked_to_lead(b), timeout=60)
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
    wakeup = Notified(pg, 0.25)

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


def _ticked_to_lead(hub: Leadership) -> None:
    hub.tick()
    assert hub.role is Role.LEADER, "the old leader's backend still holds the lock"


def _assert(condition: bool) -> None:
    assert condition


def test_a_sign_in_form_from_one_hub_is_taken_by_another(pg: Engine) -> None:
    """Two hubs on one database behind one address: the form's CSRF field, made by the
    first, is accepted by the second (they share the key), and the session works on both."""
    with pg.begin() as conn:
        users.create(conn, "olga", Person.OPERATOR, "correct horse battery", datetime.now(UTC))
    first, second = Client(create_app(pg), None), Client(create_app(pg), None)
    page = first.get("/login", headers={"Accept": "text/html"})
    field = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert page.status_code == 200 and field is not None
    posted = second.request(
        "POST",
        "/login",
        data={"csrf": field[1], "username": "olga", "password": "correct horse battery"},
        headers={"Cookie": f"{csrf.COOKIE}={page.cookies[csrf.COOKIE]}"},
    )
    assert posted.status_code == 303, posted.text
    session = {"Cookie": f"{guard.COOKIE}={posted.cookies[guard.COOKIE]}", "Accept": "text/html"}
    assert first.get("/", headers=session).status_code == 200


def test_the_fleet_page_and_the_status_show_each_hub_and_who_leads(pg: Engine) -> None:
    """Two hubs tick, the first leads: the fleet page lists both by name with their roles
    in words, and the status names the leader; a hub gone quiet reads as stopped."""
    a, b = Leadership(pg, "hub-a", 1.0), Leadership(pg, "hub-b", 1.0)
    try:
        a.tick()
        b.tick()
        app = create_app(pg)
        viewer = Client(app, make_token(pg, Person.VIEWER, "Ward screens"))
        page = viewer.get("/", headers={"Accept": "text/html"}).text
        assert "Hubs sharing this database" in page
        assert re.search(r'data-hub="hub-a".*?leading: projects the records', page, re.S)
        assert re.search(r'data-hub="hub-b".*?taking scans and serving pages', page, re.S)
        status = Client(app, make_token(pg, Person.ADMIN, "ops")).get("/api/v1/status").json()
        assert status["leader"] == "hub-a"
        assert [(h["name"], h["role"]) for h in status["hubs"]] == [
            ("hub-a", "leader"),
            ("hub-b", "follower"),
        ]
        b.stop()
        with pg.begin() as conn:  # b last wrote its row a minute ago
            conn.execute(
                sa.text(
                    "UPDATE hubs SET seen_at = seen_at - interval '60 seconds' WHERE name = 'hub-b'"
                )
            )
        page = viewer.get("/", headers={"Accept": "text/html"}).text
        assert re.search(r'data-hub="hub-b".*?stopped: the other hubs carry its share', page, re.S)
    finally:
        a.stop()
        b.stop()
