"""The hub's wall clock as ingest reads it: when a message arrived, the ack's hub time, the
timed checks. Read with the monotonic clock beside it, so a step of the wall clock (NTP
correcting the server, or a person setting it) shows (ingest/clocks.py).

``[faults] clock_error_file`` (the fault matrix only) holds how many seconds the clock is
wrong, read at most once a second: a process's own clock is the only one a test may step
here (agent/clock.py ``ClockError`` says why; the agent's and the hub's are separate
packages, so each has its own dozen lines).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

RECHECK_NS = 10**9


class Stamp(NamedTuple):
    wall: datetime
    monotonic_ns: int


class HubClock:
    def __init__(self, error_file: Path | None = None) -> None:
        self._error_file = error_file
        self._error = timedelta(0)
        self._read_ns: int | None = None

    def now(self) -> datetime:
        return self.stamp().wall

    def stamp(self) -> Stamp:
        mono = time.monotonic_ns()
        return Stamp(datetime.now(UTC) + self._error_at(mono), mono)

    def _error_at(self, mono: int) -> timedelta:
        if self._error_file is None:
            return timedelta(0)
        if self._read_ns is None or mono - self._read_ns > RECHECK_NS:
            self._read_ns = mono
            try:
                self._error = timedelta(seconds=float(self._error_file.read_text() or 0))
            except (OSError, ValueError):
                self._error = timedelta(0)
        return self._error
