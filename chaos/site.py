"""What a fault acts on: a real mosquitto, a hub on SQLite or PostgreSQL, and one station
scanning a burst, each its own process. The station may run in a network namespace of
its own (network.py), so a fault can cut or squeeze its link to the broker alone."""

from __future__ import annotations

import itertools
import os
import signal
import threading
from datetime import datetime
from pathlib import Path
from typing import Literal

from agent.errors import ControlError
from chaos.disk import SmallDisk
from chaos.network import Link
from chaos.oracle import Kept, station_kept
from hub.provision import ca
from tests.harness.event_pipe import EventPipe
from tests.harness.mosquitto import Mosquitto
from tests.harness.ports import FakeScannerPort
from tests.harness.postgres import Postgres
from tests.harness.processes import AgentProcess, HubProcess

AGENT = "pi-chaos"
KEEPALIVE_S = 5  # the least an agent takes; the broker drops a silent one after 1.5 of these


def text(n: int) -> str:
    """The n-th scan: two assets then a place, so each move closes and the records change."""
    return f"LOC-{n % 7}" if n % 3 == 2 else f"AST-{n}"


class Burst:
    """A station's operator scanning as fast as the station answers, in a thread, until
    told to pause or the station stops answering (a scan it never answered may still have
    been kept: the oracle reads the station's own store)."""

    def __init__(self, agent: AgentProcess, counter: itertools.count[int]) -> None:
        self._agent = agent
        self._counter = counter
        self._pause = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._pause.is_set():
            try:
                self._agent.scan(text(next(self._counter)))
            except (ControlError, OSError):
                return

    def stop(self) -> None:
        self._pause.set()
        self._thread.join(timeout=60)


class Site:
    def __init__(
        self,
        work: Path,
        database_url: str,
        postgres: Postgres | None = None,
        link: Link | None = None,
        disk: SmallDisk | None = None,
        scanner: Literal["serial", "evdev"] | None = None,
        tls: bool = False,
    ) -> None:
        """``tls``: the station reaches the broker over TLS, with the site's CA (the hub
        over plain loopback, as ``ca init`` sets a hub on the broker's host up)."""
        self.work = work
        self.database_url = database_url
        self.postgres = postgres
        self.link = link
        self.disk = disk
        host = link.host_ip if link else "127.0.0.1"
        self.tls = work / "tls" if tls else None
        if self.tls:
            ca.init(self.tls)  # one folder for the CA and the broker's files: a test site
            ca.issue(self.tls, self.tls, "broker", [host])
        self.broker = Mosquitto(
            work / "mosquitto", listen_also=link.host_ip if link else None, tls=self.tls
        )
        self.broker.workdir.mkdir(parents=True, exist_ok=True)
        self._hubs = itertools.count(1)
        self._counter = itertools.count()
        self.hub = self._hub()
        self.port = FakeScannerPort(work / "usb-scanner-if00") if scanner == "serial" else None
        self.keyboard = EventPipe(work / "usb-scanner-event-kbd") if scanner == "evdev" else None
        scanners = []
        if self.port:
            scanners.append({"type": "serial", "id": "serial-1", "path": self.port.link})
        if self.keyboard:
            scanners.append({"type": "evdev", "id": "hid-1", "path": self.keyboard.path})
        self.agent = AgentProcess(
            work / "agent",
            AGENT,
            self.broker.tls_port or self.broker.port,
            keepalive_s=KEEPALIVE_S,
            host=host,
            scanners=scanners,
            tls_ca=self.tls / "ca.crt" if self.tls else None,
            # A Pi whose clock NTP keeps synced, unless a fault sets it wrong.
            extra={"faults": {"clock_error_file": work / "clock-error", "ntp_synced": True}},
        )
        if self.keyboard:
            self.agent.argv[2] = "tests.harness.event_pipe"  # its device is the FIFO
            self.agent.env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
        if link:
            self.agent.prefix = link.prefix()
        self.burst: Burst | None = None
        self.kept_before: dict[str, Kept] = {}  # what the station had kept, before a restore
        # Kept by the station, then gone with its storage: after the copy it was restored
        # from, or on a page that went bad. Unless the hub had them by then, no software
        # brings these back; the oracle counts them apart from the lost (oracle.py).
        self.storage_lost: set[str] = set()
        self.storage_lost_named: int | None = None  # how many the station said it could not read

    def remember_kept(self) -> None:
        self.kept_before.update(station_kept(self.outbox))

    @property
    def outbox(self) -> Path:
        return self.agent.workdir / "data" / "outbox.db"

    def _hub(self, crash_at: str | None = None, after: int = 1) -> HubProcess:
        n = next(self._hubs)
        return HubProcess(
            self.work / f"hub{n}",
            self.database_url,
            self.broker.port,
            crash_at=crash_at,
            after=after,
            clock_error_file=self.work / "hub-clock-error",
        )

    def start(self) -> None:
        self.broker.start()
        self.hub.start()
        self.agent.start()

    def stop(self) -> None:
        self.pause()
        self.agent.stop()
        self.hub.stop()
        self.broker.kill()
        if self.port is not None and self.port.link.exists():
            self.port.unplug()
        if self.keyboard is not None and self.keyboard.plugged:
            self.keyboard.unplug()

    def scan(self) -> None:
        """Start (or go on) scanning."""
        if self.burst is None:
            self.burst = Burst(self.agent, self._counter)

    def pause(self) -> None:
        if self.burst is not None:
            self.burst.stop()
            self.burst = None

    def replace_hub(self, crash_at: str | None = None, after: int = 1) -> HubProcess:
        """A new hub process on the same database and broker (after the old one died). One
        armed to crash may crash before it answers: it is not waited for."""
        self.hub = self._hub(crash_at, after)
        self.hub.start(wait=crash_at is None)
        return self.hub

    def freeze_agent(self, frozen: bool) -> None:
        assert self.agent.proc is not None
        os.kill(self.agent.proc.pid, signal.SIGSTOP if frozen else signal.SIGCONT)

    def broker_certificate(self, valid_from: datetime) -> None:
        """The broker restarted with a certificate of the site's CA valid from then."""
        assert self.tls is not None, "a site without TLS"
        host = self.link.host_ip if self.link else "127.0.0.1"
        ca.issue(self.tls, self.tls, "broker", [host], valid_from)
        self.broker.stop()
        self.broker.start()

    def clock_error(self, seconds: float) -> None:
        """Set how wrong the station's wall clock is (agent/clock.py ``ClockError``)."""
        (self.work / "clock-error").write_text(str(seconds))

    def hub_clock_error(self, seconds: float) -> None:
        """Set how wrong the hub's wall clock is, as ingest reads it (hub/clock.py)."""
        (self.work / "hub-clock-error").write_text(str(seconds))

    def next_scan(self) -> int:
        """A number no other scan of this site has."""
        return next(self._counter)

    def scan_many(self, count: int) -> None:
        """``count`` scans, one after another, in this thread."""
        for _ in range(count):
            self.agent.scan(text(next(self._counter)))
