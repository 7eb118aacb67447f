"""sd_notify: READY, WATCHDOG and STOPPING for a ``Type=notify`` unit with ``WatchdogSec=``.

Twelve lines of protocol do not justify a dependency: a datagram with ``KEY=value`` lines
to the socket named in ``$NOTIFY_SOCKET`` (``@`` means the abstract namespace).
The watchdog is fed only while the outbox writer answers, so systemd restarts an agent
whose intake thread hangs, not just one whose process died.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Mapping

import structlog

log = structlog.get_logger("agent.systemd")


def notify(message: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Send one notification; ``False`` when not run under systemd or the send failed."""
    address = environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError as exc:
        log.warning("systemd.notify_failed", error=str(exc))
        return False
    return True


def watchdog_interval_s(environ: Mapping[str, str] = os.environ) -> float | None:
    """Half of ``WatchdogSec`` (systemd's advice), or ``None`` when no watchdog is set."""
    usec = environ.get("WATCHDOG_USEC", "")
    pid = environ.get("WATCHDOG_PID")
    if not usec.isdigit() or int(usec) == 0 or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2e6


class Watchdog:
    """Pings ``WATCHDOG=1`` every interval for as long as ``alive()`` returns True."""

    def __init__(self, interval_s: float, alive: Callable[[], bool]) -> None:
        self._interval = interval_s
        self._alive = alive
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="watchdog", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            if self._alive():
                notify("WATCHDOG=1")
            else:
                log.error("systemd.watchdog_withheld", reason="outbox writer not answering")
