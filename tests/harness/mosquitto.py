"""A throwaway mosquitto on a free loopback port, which tests may stop, kill and wipe."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

from tests.harness.waiting import free_port, port_open, wait_for

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
# A listener's own settings: each TLS listener names its files.
TLS_FILES = (("ca", "ca.crt"), ("cert", "broker.crt"), ("key", "broker.key"))


class Mosquitto:
    def __init__(
        self,
        workdir: Path,
        persistence: bool = True,
        listen_also: str | None = None,
        tls: Path | None = None,
        second_port: bool = False,
    ) -> None:
        """``listen_also``: an address of a link to a network namespace a test made (the
        chaos matrix's station); the port is the same. ``tls``: a folder with the site's
        ``ca.crt`` and the broker's ``broker.crt`` and ``broker.key`` (hub/provision/ca.py):
        a TLS listener on ``tls_port`` as well, read anew at each start. ``second_port``: a
        second plain listener on loopback, ``second_port``, that a test can cut alone."""
        self.workdir = workdir
        self.listen_also = listen_also
        self.tls = tls
        self.port = free_port()
        self.tls_port = free_port() if tls else None
        self.second_port = free_port() if second_port else None
        self.persistence = persistence
        self.store = workdir / "store"
        self.log = workdir / "mosquitto.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if not os.path.exists(MOSQUITTO):
            raise RuntimeError("mosquitto is not installed: run `make test`, which installs it")
        self.store.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "mosquitto.conf"
        lines = [
            f"listener {self.port} 127.0.0.1",
            f"listener {self.port} {self.listen_also}" if self.listen_also else "",
            f"listener {self.second_port} 127.0.0.1" if self.second_port else "",
            *self._tls_lines(),
            "allow_anonymous true",
            "user root" if os.geteuid() == 0 else "",
            f"persistence {'true' if self.persistence else 'false'}",
            f"persistence_location {self.store}/",
            f"log_dest file {self.log}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "max_queued_messages 100000",
        ]
        config.write_text("\n".join(lines) + "\n")
        with open(self.workdir / "stderr.log", "ab") as stderr:
            self._proc = subprocess.Popen(
                [MOSQUITTO, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=stderr
            )
        try:
            wait_for(self._up, timeout=15)
        except AssertionError as exc:
            raise RuntimeError(f"mosquitto did not start: {self._stderr()}") from exc

    def _tls_lines(self) -> list[str]:
        if self.tls is None:
            return []
        hosts = ["127.0.0.1", *([self.listen_also] if self.listen_also else [])]
        files = [f"{option}file {self.tls / name}" for option, name in TLS_FILES]
        return [line for host in hosts for line in (f"listener {self.tls_port} {host}", *files)]

    def _up(self) -> None:
        assert self._proc is not None
        if self._proc.poll() is not None:
            raise RuntimeError(f"mosquitto exited: {self._stderr()}")
        try:
            port_open(self.port)
        except OSError as exc:
            raise AssertionError(str(exc)) from exc

    def _stderr(self) -> str:
        path = self.workdir / "stderr.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def stop(self) -> None:
        """A clean stop (SIGTERM): mosquitto saves its store."""
        self._signal(signal.SIGTERM)

    @property
    def pid(self) -> int:
        assert self._proc is not None, "mosquitto is not running"
        return self._proc.pid

    def kill(self) -> None:
        """``kill -9``: whatever mosquitto had not autosaved is lost."""
        self._signal(signal.SIGKILL)

    def wipe_store(self) -> None:
        shutil.rmtree(self.store, ignore_errors=True)

    def _signal(self, signum: int) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signum)
            self._proc.wait(timeout=15)
        self._proc = None
