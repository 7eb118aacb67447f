"""Serial scanners (CDC-ACM, RS-232) through pyserial. Reopens on unplug; tenacity owns that retry.

pyserial is imported inside the driver so a hub or a test without serial never loads it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import structlog

from agent.decode import Frame
from agent.decode.framing import Framer
from agent.settings import SerialScanner
from agent.sources import reopen_policy

log = structlog.get_logger("agent.serial")

READ_CHUNK = 256
READ_TIMEOUT_S = 0.05


class SerialSource:
    def __init__(
        self, settings: SerialScanner, deliver: Callable[[Frame, str], Any], reopen_max_s: float
    ) -> None:
        self._settings = settings
        self._deliver = deliver
        self._reopen_max_s = reopen_max_s
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"serial-{settings.id}", daemon=True)
        self.connected = False
        self.reopens = 0

    @property
    def scanner_id(self) -> str:
        return self._settings.id

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)

    def state(self) -> dict[str, Any]:
        return {
            "id": self._settings.id,
            "type": "serial",
            "path": str(self._settings.path),
            "connected": self.connected,
            "reopens": self.reopens,
        }

    def _run(self) -> None:
        import serial

        while not self._stopping.is_set():
            port = self._open(serial)
            if port is None:
                return
            self.connected = True
            log.info("scanner.connected", scanner=self._settings.id)
            try:
                self._read(port)
            except (serial.SerialException, OSError) as exc:
                log.warning("scanner.unplugged", scanner=self._settings.id, error=str(exc))
            finally:
                self.connected = False
                port.close()
            self.reopens += 1

    def _open(self, serial: Any) -> Any:
        retrying = reopen_policy(
            self._stopping, self._reopen_max_s, (serial.SerialException, OSError)
        )
        return retrying(
            serial.Serial,
            str(self._settings.path),
            self._settings.baud,
            timeout=READ_TIMEOUT_S,
            exclusive=True,
        )

    def _read(self, port: Any) -> None:
        framer = Framer(self._settings.suffix, self._settings.idle_timeout_s)
        while not self._stopping.is_set():
            data = port.read(READ_CHUNK)
            now = time.monotonic()
            for frame in framer.receive(data, now) if data else framer.flush(now):
                self._deliver(frame, self._settings.id)
