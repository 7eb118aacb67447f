"""Time as the agent sees it: wall clock, monotonic clock, boot id and whether NTP synced.

A Pi has no RTC, so the wall clock can be wrong until NTP syncs. Every scan keeps both
clocks and the boot id so the hub can correct times later; seq orders scans, not time.
"""

from __future__ import annotations

import ctypes
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
    """The real clocks. Reads the boot id once: it cannot change while we run. ``trusted``:
    the wall clock is the hub host's own, so it is synced by definition."""

    def __init__(self, trusted: bool = False) -> None:
        self._boot_id: str | None = None
        self._trusted = trusted

    def now(self) -> Instant:
        if self._boot_id is None:
            self._boot_id = _read_boot_id()
        return Instant(
            wall=datetime.now(UTC),
            monotonic_ns=time.monotonic_ns(),
            boot_id=self._boot_id,
            synced=self._trusted or TIMESYNC_MARKER.exists() or kernel_synced(),
        )


TIME_ERROR = 5  # adjtimex(2): the kernel's clock is not synchronised (STA_UNSYNC)
TIMEX_BYTES = 512  # struct timex is 208 bytes on 64-bit Linux; zeroed, modes = 0 only reads


def kernel_synced() -> bool:
    """What ``timedatectl`` calls "System clock synchronized": the kernel's own NTP state,
    set by chrony, ntpd and timesyncd alike (timesyncd's marker file is only its own).
    Python has no adjtimex, so it is called through libc; a failure says "not synced"."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        state = int(libc.adjtimex(ctypes.create_string_buffer(TIMEX_BYTES)))
    except (OSError, AttributeError):
        return False
    return 0 <= state != TIME_ERROR


def _read_boot_id() -> str:
    try:
        return BOOT_ID_FILE.read_text().strip()
    except OSError:
        # Not Linux, or /proc hidden: a per-process id still separates monotonic clocks.
        return f"proc-{uuid.uuid4()}"
