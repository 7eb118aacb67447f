"""Time as the agent sees it: wall clock, monotonic clock, boot id and whether NTP synced.

A Pi has no RTC, so the wall clock can be wrong until NTP syncs. Every scan keeps both
clocks and the boot id so the hub can correct times later; seq orders scans, not time.
"""

from __future__ import annotations

import ctypes
import functools
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from agent.session import Instant

TIMESYNC_MARKER = Path("/run/systemd/timesync/synchronized")
BOOT_ID_FILE = Path("/proc/sys/kernel/random/boot_id")


class Clock(Protocol):
    def now(self) -> Instant: ...


class SystemClock:
    """The real clocks. Reads the boot id once: it cannot change while we run. ``trusted``:
    the wall clock is the hub host's own, so it is synced by definition. Whether NTP has
    synced is asked at most once a second: it changes rarely, and a drain takes thousands
    of scans a second."""

    def __init__(
        self, trusted: bool = False, error_file: Path | None = None, synced: bool | None = None
    ) -> None:
        """``error_file`` and ``synced``: the fault matrix's (``[faults]``)."""
        self._boot_id: str | None = None
        self._trusted = trusted
        self._synced_says = synced
        self._synced = False
        self._synced_checked_ns: int | None = None
        self._error = ClockError(error_file) if error_file else None

    def now(self) -> Instant:
        if self._boot_id is None:
            self._boot_id = _read_boot_id()
        mono = time.monotonic_ns()
        wall = datetime.now(UTC)
        error = self._error.at(mono) if self._error is not None else timedelta(0)
        return Instant(
            wall=wall + error,
            monotonic_ns=mono,
            boot_id=self._boot_id,
            # A clock set wrong is not synced: setting the time clears the kernel's sync
            # state, and a Pi that booted without an RTC has not synced yet.
            synced=not error and (self._trusted or self._ntp_synced(mono)),
        )

    def _ntp_synced(self, mono: int) -> bool:
        if self._synced_says is not None:
            return self._synced_says
        if self._synced_checked_ns is None or mono - self._synced_checked_ns > SYNC_RECHECK_NS:
            self._synced = TIMESYNC_MARKER.exists() or kernel_synced()
            self._synced_checked_ns = mono
        return self._synced


SYNC_RECHECK_NS = 10**9


class ClockError:
    """A wall clock that is wrong by the seconds a file says (the fault matrix's clock
    faults; ``[faults] clock_error_file``). A process's own clock is the only one a test
    may set here: setting the machine's would move every other process's, and libfaketime
    breaks Python's ``time.sleep`` (docs/reliability.md)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._error = timedelta(0)
        self._read_ns: int | None = None

    def at(self, mono: int) -> timedelta:
        if self._read_ns is None or mono - self._read_ns > SYNC_RECHECK_NS:
            self._read_ns = mono
            try:
                self._error = timedelta(seconds=float(self._path.read_text() or 0))
            except (OSError, ValueError):
                self._error = timedelta(0)
        return self._error


TIME_ERROR = 5  # adjtimex(2): the kernel's clock is not synchronised (STA_UNSYNC)
TIMEX_BYTES = 512  # struct timex is 208 bytes on 64-bit Linux; zeroed, modes = 0 only reads


def kernel_synced() -> bool:
    """What ``timedatectl`` calls "System clock synchronized": the kernel's own NTP state,
    set by chrony, ntpd and timesyncd alike (timesyncd's marker file is only its own).
    Python has no adjtimex, so it is called through libc; a failure says "not synced"."""
    try:
        state = int(_libc().adjtimex(ctypes.create_string_buffer(TIMEX_BYTES)))
    except (OSError, AttributeError):
        return False
    return 0 <= state != TIME_ERROR


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _read_boot_id() -> str:
    try:
        return BOOT_ID_FILE.read_text().strip()
    except OSError:
        # Not Linux, or /proc hidden: a per-process id still separates monotonic clocks.
        return f"proc-{uuid.uuid4()}"
