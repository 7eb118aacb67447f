"""The sterilizer's serial port (pyserial), next to the scanner sources: one line at a
time to the intake thread, and a word when the sterilizer falls silent.

- Lines end with LF; a CR before it is dropped, and a blank line is skipped. A line
  longer than a scan's raw field is cut there and kept; the format finds it unreadable
  (it is noise or a runaway line).
- On opening the port, bytes already waiting are discarded: each reading is timed by
  when the station read it, and a line of unknown age would be placed wrongly. The lines
  lost while the port was closed show as a gap in the record (docs/sterilizers.md).
- Lines are handed over together, at most ``commit_every_s`` after the first of them was
  read, so the outbox keeps them in one commit (group commit), not one fsync a line; a
  station killed loses at most those lines, and the record shows their gap.
- Silence for ``end_quiet_s`` is reported once per silence (cycles.py rule 3).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from agent.settings import SterilizerPort
from agent.sources.device import DeviceSource
from protocol.messages import MAX_RAW_CHARS

READ_CHUNK = 1024
READ_TIMEOUT_S = 0.1


class SterilizerSource(DeviceSource):
    kind = "sterilizer"

    def __init__(
        self,
        port: SterilizerPort,
        on_lines: Callable[[list[str], str], Any],
        on_quiet: Callable[[str], Any],
        reopen_max_s: float,
    ) -> None:
        super().__init__(port.id, str(port.path), reopen_max_s)
        self._port = port
        self._on_lines = on_lines
        self._on_quiet = on_quiet
        self.lines = 0

    def _unplug_errors(self) -> tuple[type[BaseException], ...]:
        import serial

        return (serial.SerialException, OSError)

    def _open_device(self) -> Any:
        import serial

        p = self._port
        device = serial.Serial(
            str(p.path),
            p.baud,
            bytesize=p.bytesize,
            parity=p.parity,
            stopbits=p.stopbits,
            timeout=READ_TIMEOUT_S,
            exclusive=True,
        )
        device.reset_input_buffer()
        return device

    def _extra_state(self) -> dict[str, Any]:
        return {"lines": self.lines}

    def _read(self, device: Any) -> None:
        pending = b""
        heard = time.monotonic()
        told_quiet = False
        held: list[str] = []  # read, not yet handed over
        held_since = 0.0
        try:
            while not self._stopping.is_set():
                data = device.read(READ_CHUNK)
                now = time.monotonic()
                if held and now - held_since >= self._port.commit_every_s:
                    self._on_lines(held, self.scanner_id)
                    held = []
                if not data:
                    if not told_quiet and now - heard >= self._port.end_quiet_s:
                        told_quiet = True
                        self._on_quiet(self.scanner_id)
                    continue
                heard, told_quiet = now, False
                pending += data
                *lines, pending = pending.split(b"\n")
                if len(pending) > MAX_RAW_CHARS:  # a runaway line: keep what fits
                    lines.append(pending)
                    pending = b""
                for line in lines:
                    text = line.rstrip(b"\r").decode(self._port.encoding, errors="replace")
                    if text.strip():  # a blank line between a printout's blocks: nothing
                        self.lines += 1
                        held_since = held_since if held else now
                        held.append(text[:MAX_RAW_CHARS])
        finally:
            if held:  # unplugged or stopping: what was read is still kept
                self._on_lines(held, self.scanner_id)
