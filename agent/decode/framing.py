"""Serial framing: bytes in, reads out (the h11 ``receive_data``/``next_event`` model).

Rules:
1. A read ends at the configured suffix: CR, LF, CRLF, TAB, or (``timeout``) a pause.
   With CR or LF framing the other line ending is dropped too, so CR+LF never doubles.
2. Empty reads (a lone terminator) are dropped.
3. A read that is not UTF-8 is a ``BadRead("not_utf8")``, kept with ``\\xNN`` escapes.
4. A read over 512 bytes is a ``BadRead("too_long")`` of its first 512 bytes; the rest
   up to the next terminator is discarded.
"""

from __future__ import annotations

from typing import Literal

from agent.decode import BadRead, Frame, Read

Suffix = Literal["cr", "lf", "crlf", "tab", "timeout"]
MAX_BYTES = 512


class Framer:
    def __init__(self, suffix: Suffix = "cr", idle_timeout_s: float = 0.1) -> None:
        self._suffix = suffix
        self._idle = idle_timeout_s
        self._buffer = bytearray()
        self._overflow = False
        self._last_byte_at: float | None = None

    def receive(self, data: bytes, now: float) -> list[Frame]:
        frames = self.flush(now) if self._suffix == "timeout" else []
        for byte in data:
            terminator = self._is_terminator(byte)
            if terminator:
                frames.extend(self._end())
                continue
            if byte in (0x0D, 0x0A) and self._suffix in ("cr", "lf", "crlf"):
                continue  # the other half of a CR+LF pair
            if len(self._buffer) >= MAX_BYTES:
                if not self._overflow:
                    frames.append(BadRead("too_long", _escape(bytes(self._buffer))))
                    self._overflow = True
                continue
            self._buffer.append(byte)
        if data:
            self._last_byte_at = now
        return frames

    def flush(self, now: float) -> list[Frame]:
        """In ``timeout`` mode, end the read once the scanner has paused long enough."""
        if (
            self._suffix == "timeout"
            and self._last_byte_at is not None
            and now - self._last_byte_at >= self._idle
        ):
            self._last_byte_at = None
            return self._end()
        return []

    def _is_terminator(self, byte: int) -> bool:
        return {
            "cr": byte == 0x0D,
            "lf": byte == 0x0A,
            "crlf": byte == 0x0A,
            "tab": byte == 0x09,
            "timeout": False,
        }[self._suffix]

    def _end(self) -> list[Frame]:
        data, overflow = bytes(self._buffer), self._overflow
        self._buffer.clear()
        self._overflow = False
        if overflow or not data:
            return []
        try:
            return [Read(data.decode("utf-8"))]
        except UnicodeDecodeError:
            return [BadRead("not_utf8", _escape(data))]


def _escape(data: bytes) -> str:
    return data.decode("utf-8", errors="backslashreplace")
