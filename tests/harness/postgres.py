"""A throwaway PostgreSQL cluster in a temporary folder, run as the ``postgres`` user.

``initdb`` refuses to run as root, so as root the cluster belongs to ``postgres``.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import uuid
from pathlib import Path

import psycopg

from tests.harness.waiting import free_port


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"PostgreSQL's {name} is not installed: run `make test`")
    return path


class Postgres:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.data = workdir / "data"
        self.sockets = workdir / "sockets"
        self.port = free_port()
        self._as_root = os.geteuid() == 0
        self.options = ""  # more server options (``-c name=value``), before ``start``

    def _run(self, *cmd: str) -> None:
        argv = ["runuser", "-u", "postgres", "--", *cmd] if self._as_root else list(cmd)
        result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"{cmd[0]} failed: {result.stdout}{result.stderr}")

    def start(self) -> None:
        self.sockets.mkdir(parents=True)
        if self._as_root:
            shutil.chown(self.workdir, "postgres")
            shutil.chown(self.sockets, "postgres")
            os.chmod(self.workdir, 0o755)
        self._run(
            _bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync"
        )
        self.start_again()

    def start_again(self) -> None:
        """Start the cluster made by ``start`` after a ``stop``, on the same port."""
        options = (
            f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 "
            f"-c shared_buffers=64MB -c max_connections=100 {self.options}"
        )
        self._run(
            _bin("pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.workdir / "postgres.log"),
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self) -> None:
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def kill(self) -> None:
        """``kill -9`` of the postmaster, as a machine that lost its power would stop it;
        its backends end when they notice."""
        pid = int((self.data / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGKILL)

    def standby(self, workdir: Path) -> Postgres:
        """A synchronous streaming standby of this (running) cluster, started: from then on
        a commit here returns only once the standby has it on disk (``synchronous_commit =
        on`` with ``synchronous_standby_names = '*'``)."""
        replica = Postgres(workdir)
        replica.sockets.mkdir(parents=True)
        if self._as_root:
            shutil.chown(workdir, "postgres")
            shutil.chown(replica.sockets, "postgres")
            os.chmod(workdir, 0o755)
        self._run(
            _bin("pg_basebackup"),
            *("-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"),
            *("-D", str(replica.data), "-R", "-X", "stream", "--no-sync"),
        )
        replica.start_again()
        with psycopg.connect(self.admin_dsn(), autocommit=True) as conn:
            conn.execute("ALTER SYSTEM SET synchronous_standby_names = '*'")
            conn.execute("ALTER SYSTEM SET synchronous_commit = 'on'")
            conn.execute("SELECT pg_reload_conf()")
        return replica

    def synchronous(self) -> bool:
        """Whether a standby streams from this cluster and confirms commits."""
        with psycopg.connect(self.admin_dsn(), autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'"
            ).fetchone()
        return row is not None and row[0] > 0

    def promote(self) -> None:
        """The standby becomes the primary (what Patroni or an operator does)."""
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-w", "-t", "60", "promote")

    def create_database(self) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        name = f"t_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.admin_dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def admin_dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"
