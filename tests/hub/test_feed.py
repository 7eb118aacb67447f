"""The live streams' one poller (hub/web/feed.py), read from a real database: many streams
cost one reader, a stream further back than the poller holds misses nothing, and states
are news only when they change."""

from __future__ import annotations

import asyncio
import json
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from hub.access.roles import Role
from hub.settings import ApiSettings
from hub.store.tables import alerts, dead_letters
from hub.web.app import create_app
from hub.web.feed import Feed, History, encode
from hub.web.stream import Cursor, events
from tests.harness.api import asgi_scope, make_token, receiver
from tests.harness.waiting import until


def _alert(engine: Any, n: int = 1) -> None:
    rows = [
        {"created_at": datetime.now(UTC), "severity": "low", "kind": "test", "detail": f"#{i}"}
        for i in range(n)
    ]
    with engine.begin() as conn:
        conn.execute(sa.insert(alerts), rows)


class _Request:
    """The one thing a stream asks of its request: whether its client went."""

    def __init__(self) -> None:
        self.gone = False

    async def is_disconnected(self) -> bool:
        return self.gone


class _Client:
    """One stream read straight from ``events``, its frames parsed as they come."""

    def __init__(self, feed: Feed, kinds: frozenset[str], resume: Cursor | None = None) -> None:
        self.frames: list[dict[str, str]] = []
        self._request = _Request()
        stream = events(self._request, feed, "t", kinds, resume, 30, lambda: None)  # type: ignore[arg-type]
        self.task = asyncio.create_task(self._read(stream))

    async def _read(self, stream: Any) -> None:
        async for text in stream:
            fields = dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)
            if "event" in fields:
                self.frames.append(fields)

    def data(self, kind: str) -> list[Any]:
        return [json.loads(f["data"]) for f in self.frames if f["event"] == kind]

    async def close(self) -> None:
        self._request.gone = True
        await asyncio.wait_for(self.task, timeout=30)


def test_ten_streams_read_the_database_no_more_often_than_one(engine: Any) -> None:
    """With ten streams open on one token, the hub opens one database connection per poll,
    not one per stream (before: each stream polled on its own)."""
    app = create_app(engine, api=ApiSettings(streams_per_token=10, stream_access_check_s=0.2))
    token = make_token(engine, Role.VIEWER, "Ward screens")
    feed: Feed = app.state.web.feed
    opened: list[int] = []
    event.listen(engine, "engine_connect", lambda conn: opened.append(1))

    async def run() -> tuple[int, int]:
        gone = asyncio.Event()
        statuses: list[int] = []

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        headers = {"Authorization": f"Bearer {token}"}
        scope = asgi_scope("GET", "/api/v1/stream", headers)
        held = [asyncio.create_task(app(scope, receiver(gone), send)) for _ in range(10)]
        await until(lambda: len(statuses) == 10)
        assert statuses == [200] * 10
        await until(lambda: feed.passes >= 3)
        opened.clear()
        first = feed.passes
        await until(lambda: feed.passes >= first + 10)
        connections, passes = len(opened), feed.passes - first
        gone.set()
        await asyncio.wait_for(asyncio.gather(*held), timeout=30)
        return connections, passes

    connections, passes = asyncio.run(run())
    assert connections <= passes + 1, (connections, passes)


def test_a_stream_further_back_than_the_feed_holds_reads_the_rest_from_the_database(
    engine: Any,
) -> None:
    """The feed holds only its newest entries; a stream resuming from before them gets
    every alert after its cursor once, in order, the old ones from the database."""
    _alert(engine, 3)
    feed = Feed(engine, lambda conn, token: None, poll_s=0.02, access_check_s=1, keep=2)

    async def run() -> list[int]:
        watching = _Client(feed, frozenset({"alert"}))
        await until(lambda: feed.ready)
        _alert(engine, 10)
        await until(lambda: len(watching.data("alert")) == 10)
        assert feed.alerts.floor > 3  # the first ones are no longer held
        resumed = _Client(feed, frozenset({"alert"}), Cursor(0, 0))
        await until(lambda: len(resumed.data("alert")) >= 13)
        await asyncio.sleep(0.1)  # room for a duplicate to show
        for client in (watching, resumed):
            await client.close()
        return [a["id"] for a in resumed.data("alert")]

    ids = asyncio.run(run())
    assert ids == sorted(set(ids)) and len(ids) == 13, ids


def test_the_dead_letter_state_is_news_when_one_is_kept_or_replayed(engine: Any) -> None:
    """A stream is told the state once at first, then once when a letter is kept and once
    when it is replayed, however many polls pass between."""
    feed = Feed(engine, lambda conn, token: None, poll_s=0.02, access_check_s=1)

    def letter() -> None:
        row = {"received_at": datetime.now(UTC), "topic": "t", "reason": "bad_json"}
        with engine.begin() as conn:
            conn.execute(
                sa.insert(dead_letters), {**row, "detail": "x", "payload": "{", "payload_bytes": 1}
            )

    async def run() -> list[Any]:
        client = _Client(feed, frozenset({"dead_letter"}))

        def told() -> list[Any]:
            return client.data("dead_letter")

        await until(lambda: len(told()) == 1)
        letter()
        await until(lambda: len(told()) == 2)
        with engine.begin() as conn:
            conn.execute(sa.update(dead_letters).values(replayed_at=datetime.now(UTC)))
        await until(lambda: len(told()) == 3)
        passes = feed.passes
        await until(lambda: feed.passes >= passes + 5)
        await client.close()
        return told()

    first, kept, replayed = asyncio.run(run())
    assert first == {"newest_id": None, "replayed": 0}
    assert kept["replayed"] == 0 and kept["newest_id"] is not None
    assert replayed == {"newest_id": kept["newest_id"], "replayed": 1}


def test_history_holds_every_entry_after_its_floor_and_sends_older_asks_away() -> None:
    """Past twice what it keeps, the oldest are dropped and the floor moves up to them;
    asked from below the floor it answers None (read the database)."""
    history = History(floor=10, keep=3)
    history.add(encode({"id": i} for i in range(11, 18)))
    assert history.floor == 14 and history.head == 17
    assert [e.id for e in history.after(14, 10) or []] == [15, 16, 17]
    assert [e.id for e in history.after(15, 1) or []] == [16]
    assert history.after(13, 10) is None
    assert history.after(17, 10) == []
