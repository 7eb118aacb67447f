"""The hub's wall clock as ingest reads it: when a message arrived, the ack's hub time, the
timed checks. Read with the monotonic clock beside it, so a step of the wall clock (NTP
correcting the server, or a person setting it) shows (ingest/clocks.py).

The fault matrix steps this clock, and only this process's (agent/clock.py ``ClockError``
says why), by starting the hub through ``tests/harness/faulty_hub.py`` with a subclass
whose ``error`` reads a file.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import NamedTuple


class Stamp(NamedTuple):
    wall: datetime
    monotonic_ns: int


class HubClock:
    def now(self) -> datetime:
        return self.stamp().wall

    def stamp(self) -> Stamp:
        mono = time.monotonic_ns()
        return Stamp(datetime.now(UTC) + self.error(mono), mono)

    def error(self, monotonic_ns: int) -> timedelta:
        """How far this clock is from the system's: none, but in the fault matrix."""
        return timedelta(0)
