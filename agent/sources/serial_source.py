"""Serial scanners (CDC-ACM, RS-232) through pyserial.

pyserial is imported inside the driver so a hub or a test without serial never loads it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from agent.decode import Frame
from agent.decode.framing import Framer
from agent.settings import SerialScanner
from agent.sources.device import DeviceSource

READ_CHUNK = 256
READ_TIMEOUT_S = 0.05


class SerialSource(DeviceSource):
    kind = "serial"

    def __init__(
        self, settings: SerialScanner, deliver: Callable[[Frame, str], Any], reopen_max_s: float
    ) -> None:
        super().__init__(settings.id, str(settings.path), reopen_max_s)
        self._settings = settings
        self._deliver = deliver

    def _unplug_errors(self) -> tuple[type[BaseException], ...]:
        import serial

        return (serial.SerialException, OSError)

    def _open_device(self) -> Any:
        import serial

        s = self._settings
        return serial.Serial(str(s.path), s.baud, timeout=READ_TIMEOUT_S, exclusive=True)

    def _read(self, device: Any) -> None:
        framer = Framer(self._settings.suffix, self._settings.idle_timeout_s)
        while not self._stopping.is_set():
            data = device.read(READ_CHUNK)
            now = time.monotonic()
            for frame in framer.receive(data, now) if data else framer.flush(now):
                self._deliver(frame, self.scanner_id)
