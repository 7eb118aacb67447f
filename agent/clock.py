"""Time as the agent sees it: wall clock, monotonic clock, boot id and whether NTP synced.

A Pi has no RTC, so the wall clock can be wrong until NTP syncs. Every scan keeps both
clocks and the boot id so the hub can correct times later; seq orders scans, not time.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from agent.session import Instant

TIMESYNC_MARKER = Path("/run/systemd/timesync/synchronized")
BOOT_ID_FILE = Path("/proc/sys/kernel/random/boot_id")


class Clock(Protocol):
    def now(self) -> Instant: ...


class SystemClock:
    """The real clocks. Reads the boot id once: it cannot change while we run."""

    def __init__(self) -> None:
        self._boot_id: str | None = None

    def now(self) -> Instant:
        if self._boot_id is None:
            self._boot_id = _read_boot_id()
        return Instant(
            wall=datetime.now(UTC),
            monotonic_ns=time.monotonic_ns(),
            boot_id=self._boot_id,
            synced=TIMESYNC_MARKER.exists(),
        )


def _read_boot_id() -> str:
    try:
        return BOOT_ID_FILE.read_text().strip()
    except OSError:
        # Not Linux, or /proc hidden: a per-process id still separates monotonic clocks.
        return f"proc-{uuid.uuid4()}"
