"""Crash points for the fault tests and the chaos matrix (``[faults]``; never set in
production): SIGKILL this process where a crash costs the most, as a power cut would."""

from __future__ import annotations

import os
import signal

import structlog

from hub.settings import FaultSettings

log = structlog.get_logger("hub.faults")


def crash_if(faults: FaultSettings, point: str, passed: int) -> None:
    """``passed``: how many times this process reached ``point`` (1 = the first)."""
    if faults.crash_point == point and passed >= faults.crash_after_batches:
        log.warning("fault.crash", point=point)
        os.kill(os.getpid(), signal.SIGKILL)
