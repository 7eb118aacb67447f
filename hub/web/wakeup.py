"""When the live streams' poller (feed.py) reads the database next.

- SQLite (one hub): every ``stream_poll_s``; the hub's own ingest thread is the only
  writer, and reading the end of two indexes four times a second is cheap.
- PostgreSQL (one hub or several): on ``NOTIFY scantrail_feed``, which a statement trigger
  on each table the streams read sends (migration 0021), whichever hub wrote. A stream
  then shows what another hub recorded as soon as it commits, and an idle hub reads
  nothing but its token checks, every ``stream_access_check_s``. PostgreSQL's own
  LISTEN/NOTIFY, not a table of our own polled by every hub. Under load it reads at most
  every ``stream_poll_s``, as SQLite does.

The listening connection is its own (detached from the pool) and comes back by itself
after the database does; meanwhile the poller reads on its timeout, so nothing waits for
the listener.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from typing import Protocol

import psycopg
import structlog
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

log = structlog.get_logger("hub.feed")

CHANNEL = "scantrail_feed"
RETRY_S = 2.0


class Wakeup(Protocol):
    async def wait(self, timeout: float) -> None:
        """Return when the streams may have something new, or after ``timeout``."""
        ...


class Ticker:
    def __init__(self, every_s: float) -> None:
        self._every_s = every_s

    async def wait(self, timeout: float) -> None:
        await asyncio.sleep(min(self._every_s, timeout))


class Notified:
    def __init__(self, engine: Engine, every_s: float) -> None:
        """``every_s``: wake at most this often. Every ingest commit notifies (the streams'
        lag and fleet states change with it): under load the streams still read at most
        as often as SQLite's poll, and one pass takes the rest of a burst."""
        self._engine = engine
        self._every_s = every_s
        self._woke_at = 0.0
        self._lock = threading.Lock()
        self._changed = False  # a notification came while nobody waited
        self._waiter: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None
        self._thread: threading.Thread | None = None
        self.listening = threading.Event()  # tests wait for it before they write

    async def wait(self, timeout: float) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._listen, name="feed-listen", daemon=True)
            self._thread.start()
        event = asyncio.Event()
        with self._lock:
            woken, self._changed = self._changed, False
            if not woken:
                self._waiter = (asyncio.get_running_loop(), event)
        if not woken:
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), timeout)
            finally:
                with self._lock:
                    self._waiter = None
                    self._changed = False  # the pass that follows reads what it announced
            woken = event.is_set()
        if woken:  # at most every every_s: the rest of a burst waits for the same pass
            await asyncio.sleep(max(0.0, self._every_s - (time.monotonic() - self._woke_at)))
        self._woke_at = time.monotonic()

    def _wake(self) -> None:
        with self._lock:
            self._changed = True
            waiter = self._waiter
        if waiter is not None:
            loop, event = waiter
            with contextlib.suppress(RuntimeError):  # that loop has closed
                loop.call_soon_threadsafe(event.set)

    def _listen(self) -> None:
        while True:
            try:
                raw = self._engine.raw_connection()
                conn = raw.driver_connection
                raw.detach()  # listens for good: never handed back to the pool
                if not isinstance(conn, psycopg.Connection):
                    raise TypeError(f"LISTEN needs psycopg, not {type(conn).__name__}")
                try:
                    conn.autocommit = True
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    self._wake()  # whatever changed while nobody listened
                    while True:
                        for _ in conn.notifies(timeout=5.0):
                            self._wake()
                finally:
                    self.listening.clear()
                    with contextlib.suppress(psycopg.Error):
                        conn.close()
            except (psycopg.Error, SQLAlchemyError) as exc:
                log.warning("feed.listen_lost", error=str(exc)[:200])
                threading.Event().wait(RETRY_S)
