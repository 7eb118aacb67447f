"""The API's changes on SQLite, made by the one writer (STYLE.md): a route hands its change
to the ingest thread through the same queue the broker's messages arrive on, and waits for
the answer, as datasette's ``execute_write`` does. SQLite takes one writer at a time: a
change made beside the ingest thread would wait on the file's lock (``busy_timeout``) or
fail, and the ingest thread would wait on it in turn."""

from __future__ import annotations

import queue
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.engine import Connection, Engine

from hub.errors import WriterBusy
from hub.ingest.triage import Message
from hub.store.db import mapped

T = TypeVar("T")
WAIT_S = 15.0  # how long a change waits for the writer before the API answers 503


@dataclass(frozen=True)
class Job:
    work: Callable[[Connection], Any]
    done: Future[Any] = field(default_factory=Future)

    def run(self, engine: Engine) -> None:
        """In the writer's thread: the work in one transaction, its answer to the route.
        A job the route gave up on is not run."""
        if not self.done.set_running_or_notify_cancel():
            return
        try:
            with mapped(), engine.begin() as conn:
                answer = self.work(conn)
        except Exception as exc:  # the route raises it; the writer goes on
            self.done.set_exception(exc)
        else:
            self.done.set_result(answer)


# What the ingest thread has waiting: the broker's messages and the API's changes.
Waiting = queue.Queue[Message | Job]


class ThroughWriter:
    """``hub.store.writing.Writes`` by the ingest thread (SQLite)."""

    def __init__(self, inbox: Waiting, wait_s: float = WAIT_S) -> None:
        self._inbox = inbox
        self._wait_s = wait_s

    def __call__(self, work: Callable[[Connection], T], /) -> T:
        job = Job(work)
        try:
            self._inbox.put(job, timeout=self._wait_s)
        except queue.Full:
            raise self._busy() from None
        try:
            answer: T = job.done.result(timeout=self._wait_s)
        except FutureTimeout:
            if job.done.cancel():  # not begun: it never will be
                raise self._busy() from None
            answer = job.done.result()  # begun: its answer, as the transaction ends
        return answer

    def _busy(self) -> WriterBusy:
        return WriterBusy(
            f"the hub's writer did not take the change within {self._wait_s:.0f} s; "
            "nothing was changed: try again"
        )
