"""Which hub leads: the one projector across the hubs, which also runs the timed checks.

Rules:
1. The leader is the hub whose leadership connection holds a session-level PostgreSQL
   advisory lock (``LEADER_LOCK``), as Marten and Axon elect one projection owner. The
   lock is PostgreSQL's: when the leader's process dies, its connection ends and the lock
   with it, and a follower takes it at its next try, within ``leader_check_s``.
2. Each tick a follower tries the lock without waiting; the leader checks its connection
   still answers. A leader whose connection fails is a follower from that moment: the
   lock may already be someone else's.
3. Leading decides who *tries* to project, not who may: each projection step still takes
   the projector's transaction-level advisory lock (projector.py rule 6), so two hubs that
   both believe they lead for a moment never apply the same scans twice.
4. Each tick every hub writes its row in ``hubs`` (its name, its connection's backend pid,
   seen_at): the fleet page and ``/api/v1/status`` show them, the leader being the hub whose
   backend holds the lock (hub/store/roster.py).
5. On SQLite there is one hub: it leads, with no thread and no row (``Solo``).
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from hub import __version__
from hub.store import roster
from hub.store.roster import LEADER_LOCK

log = structlog.get_logger("hub.cluster")


class Role(StrEnum):
    LEADER = "leader"
    FOLLOWER = "follower"


class Leading(Protocol):
    name: str

    @property
    def role(self) -> Role: ...

    def leading(self) -> bool: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


def default_name(api_port: int) -> str:
    return f"{socket.gethostname()}:{api_port}"


class Solo:
    """One hub on its own database (SQLite): it always leads (rule 5)."""

    role = Role.LEADER

    def __init__(self, name: str) -> None:
        self.name = name

    def leading(self) -> bool:
        return True

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


class Leadership:
    def __init__(
        self,
        engine: Engine,
        name: str,
        every_s: float,
        became_leader: Callable[[], None] = lambda: None,
    ) -> None:
        """``became_leader``: called in the leadership thread when this hub takes the lead
        (the projector is woken, so it does not wait for its idle tick)."""
        self._engine = engine
        self.name = name
        self._every_s = every_s
        self._became_leader = became_leader
        self._role = Role.FOLLOWER
        self._conn: Connection | None = None
        self._started_at = datetime.now(UTC)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="leadership", daemon=True)

    @property
    def role(self) -> Role:
        return self._role

    def leading(self) -> bool:
        return self._role is Role.LEADER

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._drop()  # the lock goes with the connection: a follower leads at once

    def _run(self) -> None:
        while not self._stopping.is_set():
            self.tick()
            self._stopping.wait(self._every_s)

    def tick(self) -> None:
        """Rules 1, 2 and 4, once."""
        was = self._role
        try:
            conn = self._connection()
            if self._role is Role.LEADER:
                conn.execute(sa.select(1))
            elif conn.execute(sa.select(sa.func.pg_try_advisory_lock(LEADER_LOCK))).scalar():
                self._role = Role.LEADER
            self._heartbeat(conn)
        except SQLAlchemyError as exc:
            if self._role is Role.LEADER:
                log.error("cluster.leader_connection_lost", hub=self.name, error=str(exc)[:200])
            self._role = Role.FOLLOWER
            self._drop()
        if self._role is not was:
            log.warning("cluster.role", hub=self.name, role=self._role.value)
            if self._role is Role.LEADER:
                self._became_leader()

    def _connection(self) -> Connection:
        if self._conn is None:
            self._conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._conn

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.invalidate()  # never back to the pool: it may hold the lock
                self._conn.close()
            except SQLAlchemyError:
                pass
            self._conn = None

    def _heartbeat(self, conn: Connection) -> None:
        backend = conn.execute(sa.select(sa.func.pg_backend_pid())).scalar_one()
        row = {
            "name": self.name,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "backend_pid": backend,
            "version": __version__,
            "started_at": self._started_at,
            "seen_at": datetime.now(UTC),
        }
        roster.beat(conn, row)
