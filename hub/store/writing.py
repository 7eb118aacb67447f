"""How a change from the API reaches the database. On PostgreSQL each runs in its own
transaction (``direct``). On SQLite, which takes one writer, the ingest thread runs them
between its batches (hub/ingest/web_writes.py), as datasette's ``execute_write`` does, so
a change never waits on the file's lock against the ingest writer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from sqlalchemy.engine import Connection, Engine

from hub.store.db import mapped

T = TypeVar("T")


class Writes(Protocol):
    def __call__(self, work: Callable[[Connection], T], /) -> T:
        """Run ``work`` in one transaction and return what it returned; what it raises
        is raised here, and nothing of it is kept."""
        ...


def direct(engine: Engine) -> Writes:
    def write(work: Callable[[Connection], T], /) -> T:
        with mapped(), engine.begin() as conn:
            return work(conn)

    return write
