"""The hub as the fault tests and the chaos matrix run it: the product's own ``serve``, built
with a clock a file can step and a checkpoint that SIGKILLs the process, as a power cut
would. The product ships neither (hub/checkpoints.py).

    python -m tests.harness.faulty_hub --config hub.toml [--crash-at POINT --after N]
        [--clock-error-file FILE]
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import get_args

import structlog

from agent.clock import ClockError
from hub import logs
from hub.__main__ import serve
from hub.bootstrap import bootstrap
from hub.checkpoints import Checkpoint, Point, passing
from hub.clock import HubClock
from hub.settings import load_settings

log = structlog.get_logger("tests.faulty_hub")


class SteppedClock(HubClock):
    """Wrong by as many seconds as ``error_file`` holds: the same file-read error the
    station's clock takes in the fault matrix (agent/clock.py ``ClockError``)."""

    def __init__(self, error_file: Path) -> None:
        self._error = ClockError(error_file)

    def error(self, monotonic_ns: int) -> timedelta:
        return self._error.at(monotonic_ns)


def crash_at(point: Point, after: int) -> Checkpoint:
    """SIGKILL this process the ``after``-th time it reaches ``point``."""

    def checkpoint(reached_point: Point, reached: int) -> None:
        if reached_point == point and reached >= after:
            log.warning("fault.crash", point=point)
            os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(60)  # the signal is delivered before this returns

    return checkpoint


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="faulty_hub")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--crash-at", choices=get_args(Point))
    parser.add_argument("--after", type=int, default=1)
    parser.add_argument("--clock-error-file", type=Path)
    args = parser.parse_args(argv)
    logs.configure()
    checkpoint = crash_at(args.crash_at, args.after) if args.crash_at else passing
    clock = SteppedClock(args.clock_error_file) if args.clock_error_file else None
    return serve(bootstrap(load_settings(args.config), clock, checkpoint))


if __name__ == "__main__":
    sys.exit(main())
