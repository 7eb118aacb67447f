"""The two databases a bench runs the hub and its raw baseline on, behind one shape:
SQLite files, or a throwaway PostgreSQL cluster the bench starts itself (fsync on, as a
site runs it) with ``pg_stat_statements`` loaded to count the statements the server ran."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psycopg

from bench.sqlite_copy import ROWS_PER_TRANSACTION, fresh, timed_copy
from tests.harness.postgres import Postgres

Cursors = Callable[[], dict[str, int]]


class SqliteBench:
    name = "sqlite"

    def __init__(self, tmp: Path) -> None:
        self._tmp = tmp

    def url(self, target: str) -> str:
        """The database a target (hub or raw) writes; for raw, the path raw_hub.py takes."""
        path = self._tmp / target / "hub.db"
        return f"sqlite:///{path}" if target == "hub" else str(path)

    def cursors(self, url: str) -> Cursors:
        """Reads each agent's projection cursor from the hub's database (from a poller's
        thread)."""
        path = url.removeprefix("sqlite:///")
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)

        def read() -> dict[str, int]:
            try:
                return dict(conn.execute("SELECT agent_id, projected_seq FROM agent_streams"))
            except sqlite3.OperationalError:
                return {}  # not migrated yet, or busy

        return read

    def scan_log_inserts(self, url: str) -> float:
        """Raw inserts of the rows the hub stored: every scan_log row into an empty copy of
        that table with its indexes (bench/sqlite_copy.py)."""
        source = sqlite3.connect(f"file:{url.removeprefix('sqlite:///')}?mode=ro", uri=True)
        target = fresh(source, self._tmp / "scan-log-inserts.db", ["scan_log"])
        rows, seconds = timed_copy(source, target, "scan_log")
        source.close()
        target.close()
        return rows / seconds

    def statements(self, url: str) -> int | None:
        return None  # SQLite runs in the hub's process: nothing to ask

    def close(self) -> None:
        pass


class PostgresBench:
    name = "postgresql"

    def __init__(self, tmp: Path) -> None:
        # Not under a private temporary folder: the cluster runs as ``postgres``.
        self._workdir = Path(tempfile.mkdtemp(prefix="scantrail-bench-pg-"))
        self._server = Postgres(self._workdir)
        self._server.options = "-c shared_preload_libraries=pg_stat_statements"
        self._server.start()
        self._urls: dict[str, str] = {}

    def url(self, target: str) -> str:
        if target not in self._urls:
            url = self._server.create_database()
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            self._urls[target] = url
        return self._urls[target]

    def cursors(self, url: str) -> Cursors:
        conn = psycopg.connect(url, autocommit=True)

        def read() -> dict[str, int]:
            try:
                rows = conn.execute("SELECT agent_id, projected_seq FROM agent_streams")
            except psycopg.errors.UndefinedTable:
                return {}
            return {agent: int(seq) for agent, seq in rows}

        return read

    def scan_log_inserts(self, url: str) -> float:
        """Raw inserts of every scan_log row the hub stored into an empty copy of the table
        (its indexes too), 1,000 rows a transaction with psycopg's executemany."""
        with psycopg.connect(url) as conn:
            conn.execute("CREATE TABLE copy_of_scan_log (LIKE scan_log INCLUDING ALL)")
            conn.commit()
            rows = conn.execute("SELECT * FROM scan_log").fetchall()
            marks = ",".join(["%s"] * len(rows[0]))
            start = time.perf_counter()
            for at in range(0, len(rows), ROWS_PER_TRANSACTION):
                with conn.cursor() as cursor:
                    cursor.executemany(
                        f"INSERT INTO copy_of_scan_log VALUES ({marks})",
                        rows[at : at + ROWS_PER_TRANSACTION],
                    )
                conn.commit()
            return len(rows) / (time.perf_counter() - start)

    def statements(self, url: str) -> int | None:
        """Statements the server ran for this database so far: pg_stat_statements' calls,
        plus its commits and rollbacks (each a round trip of its own). An executemany's
        rows count one each, though psycopg pipelines them."""
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT (SELECT coalesce(sum(calls), 0) FROM pg_stat_statements s "
                "  WHERE s.dbid = d.datid), xact_commit + xact_rollback "
                "FROM pg_stat_database d WHERE datname = current_database()"
            ).fetchone()
        assert row is not None
        return int(row[0]) + int(row[1])

    def close(self) -> None:
        try:
            self._server.stop()
        finally:
            shutil.rmtree(self._workdir, ignore_errors=True)


def open_bench(name: str, tmp: Path) -> SqliteBench | PostgresBench:
    return PostgresBench(tmp) if name == "postgresql" else SqliteBench(tmp)
