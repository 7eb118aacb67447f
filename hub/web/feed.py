"""The one poller behind every live stream of this hub process.

Before, each stream read the database four times a second on its own: 50 streams from one
viewer's token took the hub from 1% to 93% CPU. Now one task reads the record changes,
alerts and states once a pass and each stream takes what it wants from that, so 50
streams cost about what one does. The poller runs only while some stream is open. A pass
comes every ``poll_s`` on SQLite, and on PostgreSQL when the database announces a change,
whichever hub made it (wakeup.py).

It keeps the newest ``keep`` record changes and alerts, each encoded to JSON once. A stream
resuming from further back than that (``Last-Event-ID`` after an hour away) reads the
database itself until it reaches them, BATCH at a time.

It also re-checks the tokens of the open streams, each at least every ``access_check_s``,
in the same pass: a stream learns its token was revoked, signed out, disabled or expired
from ``refusal`` and ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

import structlog
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from hub.store import queries
from hub.web.wakeup import Ticker, Wakeup

log = structlog.get_logger("hub.feed")

BATCH = 500
# A pass reads at most this many of each, so a burst cannot hold a pass for long; the rest
# come on the next.
_PER_PASS = 10 * BATCH
# Why a token no longer opens a stream, or None while it does.
Refusal = Callable[[Connection, str], str | None]


@dataclass(frozen=True)
class Entry:
    id: int
    data: str  # its JSON, encoded once for every stream


def encode(rows: Iterable[dict[str, Any]]) -> list[Entry]:
    return [Entry(row["id"], json.dumps(row, default=str)) for row in rows]


class History:
    """The newest entries of one table whose ids increase in commit order: every entry
    after ``floor`` is held, oldest first."""

    def __init__(self, floor: int, keep: int) -> None:
        self.floor = floor
        self._keep = keep
        self._entries: list[Entry] = []

    @property
    def head(self) -> int:
        return self._entries[-1].id if self._entries else self.floor

    def add(self, entries: list[Entry]) -> None:
        self._entries.extend(entries)
        if len(self._entries) > 2 * self._keep:  # trimmed in halves: amortised O(1)
            drop = len(self._entries) - self._keep
            self.floor = self._entries[drop - 1].id
            del self._entries[:drop]

    def after(self, position: int, limit: int) -> list[Entry] | None:
        """Up to ``limit`` entries after ``position``; None when it is older than the held
        ones (the caller reads the database)."""
        if position < self.floor:
            return None
        start = bisect_right(self._entries, position, key=lambda e: e.id)
        return self._entries[start : start + limit]


@dataclass
class States:
    """The newest value of each state a stream may report; None until first read."""

    fleet: list[dict[str, Any]] | None = None
    lag: dict[str, Any] | None = None
    dead_letters: dict[str, Any] | None = None


@dataclass
class _Pass:
    heads: tuple[int, int]
    records: list[Entry] = field(default_factory=list)
    alerts: list[Entry] = field(default_factory=list)
    states: States = field(default_factory=States)
    refused: dict[str, str] = field(default_factory=dict)
    checked: list[str] = field(default_factory=list)


class Feed:
    def __init__(
        self,
        engine: Engine,
        refusal: Refusal,
        poll_s: float,
        access_check_s: float,
        keep: int = 5000,
        wakeup: Wakeup | None = None,
    ) -> None:
        """``wakeup``: when to read next (wakeup.py); by default every ``poll_s``."""
        self._engine = engine
        self._wakeup = wakeup or Ticker(poll_s)
        self._refusal = refusal
        self._access_check_s = access_check_s
        self._keep = keep
        self._members: Counter[str] = Counter()
        self._kinds: Counter[str] = Counter()
        self._checked_at: dict[str, float] = {}
        self._refused: dict[str, str] = {}
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._passed = asyncio.Event()
        self.records = History(0, keep)
        self.alerts = History(0, keep)
        self.states = States()
        self.passes = 0  # how many times it read the database: one per poll, however many read

    def join(self, token: str, kinds: frozenset[str]) -> None:
        """Count a stream in, starting the poller if it is the first (in the running event
        loop); the stream waits for ``ready`` before it reads."""
        self._members[token] += 1
        self._kinds.update(kinds)
        self._checked_at.setdefault(token, time.monotonic())  # the route has just checked it
        if self._task is None or self._task.done():
            # A new task (and events) per start: a test's app may outlive one event loop.
            self._ready = asyncio.Event()
            self._passed = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run())

    def leave(self, token: str, kinds: frozenset[str]) -> None:
        self._members[token] -= 1
        self._kinds.subtract(kinds)
        if self._members[token] <= 0:
            del self._members[token]
            self._checked_at.pop(token, None)
            self._refused.pop(token, None)

    def refusal(self, token: str) -> str | None:
        return self._refused.get(token)

    @property
    def ready(self) -> bool:
        """Whether the poller has read where the logs end (not while the database is away)."""
        return self._ready.is_set()

    @property
    def heads(self) -> tuple[int, int]:
        return self.records.head, self.alerts.head

    async def next_pass(self, timeout: float) -> None:
        """Wait for the poller's next pass, or ``timeout``."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._passed.wait(), timeout)

    def read_records(self, after: int) -> list[Entry]:
        """For a stream further back than ``records`` holds: the database, one BATCH."""
        with self._engine.connect() as conn:
            return encode(queries.record_changes(conn, after, BATCH))

    def read_alerts(self, after: int) -> list[Entry]:
        with self._engine.connect() as conn:
            return encode(queries.alert_page(conn, after, BATCH))

    async def _run(self) -> None:
        fresh = True
        while self._members:
            wanted = frozenset(k for k, n in self._kinds.items() if n > 0)
            now = time.monotonic()
            due = [t for t, at in self._checked_at.items() if now - at >= self._access_check_s]
            try:
                heads = None if fresh else self.heads
                done = await run_in_threadpool(self._read, heads, wanted, due)
            except SQLAlchemyError as exc:
                # The database went away: streams stay open (keepalives go on) and catch
                # up when it is back.
                log.warning("feed.database_unavailable", error=str(exc)[:200])
            except Exception:  # a bug must not leave every stream silent for good
                log.exception("feed.pass_failed")
            else:
                self._apply(done, fresh)
                fresh = False
                self._ready.set()
            self.passes += 1
            passed, self._passed = self._passed, asyncio.Event()
            passed.set()
            await self._wakeup.wait(self._access_check_s)

    def _read(self, heads: tuple[int, int] | None, wanted: frozenset[str], due: list[str]) -> _Pass:
        with self._engine.connect() as conn:
            if heads is None:
                return _Pass(queries.newest_ids(conn))
            done = _Pass(heads)
            done.records = _pages(partial(queries.record_changes, conn), heads[0])
            done.alerts = _pages(partial(queries.alert_page, conn), heads[1])
            if "agent" in wanted:
                done.states.fleet = queries.fleet(conn)
            if "lag" in wanted:
                done.states.lag = queries.projection(conn, datetime.now(UTC))
            if "dead_letter" in wanted:
                done.states.dead_letters = queries.dead_letter_state(conn)
            for token in due:
                reason = self._refusal(conn, token)
                if reason is not None:
                    done.refused[token] = reason
            done.checked = due
        return done

    def _apply(self, done: _Pass, fresh: bool) -> None:
        if fresh:
            self.records = History(done.heads[0], self._keep)
            self.alerts = History(done.heads[1], self._keep)
            return
        self.records.add(done.records)
        self.alerts.add(done.alerts)
        self.states = done.states
        now = time.monotonic()
        for token in done.checked:
            if token in self._checked_at:  # still open
                self._checked_at[token] = now
        self._refused.update((t, r) for t, r in done.refused.items() if t in self._members)


def _pages(read: Callable[[int, int], list[dict[str, Any]]], after: int) -> list[Entry]:
    entries: list[Entry] = []
    while len(entries) < _PER_PASS:
        page = encode(read(after, BATCH))
        entries.extend(page)
        if len(page) < BATCH:
            break
        after = page[-1].id
    return entries
