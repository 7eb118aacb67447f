"""A sterilizer on a pseudo-terminal: it prints one line per second of its cycle, the way
a real one prints to its data-recorder port, for the tests, the bench and the demo.

Its line layout is ``FORMAT`` below, a site's own regular expression as an agent's
``[sterilizer]`` section takes it (agent/sterilizer/formats.py). Time on the line is the
sterilizer's (``T+…s``), so a cycle may be played faster than it runs: the hub judges by
the sterilizer's clock (hub/reconcile/capture.py).

Cycles are made from a profile (``cycle``): a good pre-vacuum cycle, one whose exposure
dips below its set point, one aborted in exposure. ``Sterilizer`` plays them: it writes
lines at a given rate, can be unplugged (the port goes away and its lines are lost) and
plugged back, and can print noise between lines.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

# What an agent's [sterilizer] section says for this sterilizer.
PATTERN = (
    r"^(?P<phase>[A-Z]+)\s+T\+\s*(?P<elapsed>\d+)s\s+CH\s+(?P<chamber>-?[\d.]+)C\s+"
    r"LD\s+(?P<load>-?[\d.]+)C\s+P\s+(?P<pressure>[\d.]+)kPa\s+CYC\s+(?P<cycle>\d+)$"
)
PHASES = {
    "START": "start",
    "COND": "conditioning",
    "STERILIZE": "exposure",
    "EXHAUST": "exhaust",
    "DRY": "dry",
    "COMPLETE": "complete",
    "ABORT": "aborted",
}
FORMAT = {"format": "regex", "pattern": PATTERN, "phases": PHASES, "baud": 38400}

Kind = Literal["good", "dip", "aborted"]
HOLD_C = 134.0  # a pre-vacuum 132 °C cycle holds a little above its set point
EXPOSURE_S = 270  # 4 min needed, and half a minute to spare
DIP_S = 20


@dataclass(frozen=True)
class Line:
    elapsed_s: int
    phase: str
    text: str


def cycle(number: int, kind: Kind = "good") -> list[Line]:
    """One cycle's lines, a second apart by the sterilizer's clock."""
    steps: list[tuple[str, float, float]] = [("START", 25.0, 101.3)]
    steps += [("COND", 100 + 34 * n / 59, 30 + (n % 10) * 20.0) for n in range(60)]
    for n in range(EXPOSURE_S):
        if kind == "aborted" and n == 90:
            steps.append(("ABORT", HOLD_C - 8, 250.0))
            return _lines(number, steps)
        dipping = kind == "dip" and 100 <= n < 100 + DIP_S
        steps.append(("STERILIZE", 129.0 if dipping else HOLD_C, 304.0))
    steps += [("EXHAUST", HOLD_C - 30 * n / 29, 300 - 9 * n) for n in range(30)]
    steps += [("DRY", 100 - n, 20.0) for n in range(30)]
    steps.append(("COMPLETE", 70.0, 101.3))
    return _lines(number, steps)


def _lines(number: int, steps: list[tuple[str, float, float]]) -> list[Line]:
    return [
        Line(
            elapsed,
            PHASES[phase],
            f"{phase:<10} T+{elapsed:>5}s CH {temperature + 0.4:6.1f}C LD {temperature:6.1f}C "
            f"P {pressure:6.1f}kPa CYC {number}",
        )
        for elapsed, (phase, temperature, pressure) in enumerate(steps)
    ]


class Sterilizer:
    """A pseudo-terminal whose slave is reached through ``link`` (like /dev/serial/by-id)."""

    def __init__(self, link: Path) -> None:
        self.link = link
        self._master = -1
        self._slave = -1
        self._lock = threading.Lock()
        self.written = 0  # lines written while plugged in
        self.plug()

    def plug(self) -> None:
        with self._lock:
            self._master, self._slave = os.openpty()
            tmp = self.link.with_name(self.link.name + ".new")
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(os.ttyname(self._slave))
            tmp.replace(self.link)

    def unplug(self) -> None:
        """The cable is out: the port goes away, and what it prints meanwhile is lost."""
        with self._lock:
            if self._master < 0:
                return
            os.close(self._master)
            os.close(self._slave)
            self._master = self._slave = -1
            self.link.unlink(missing_ok=True)

    def print(self, text: str) -> bool:
        """One line on the port; False when it is unplugged (the line is lost)."""
        with self._lock:
            if self._master < 0:
                return False
            os.write(self._master, text.encode("latin-1") + b"\r\n")
            self.written += 1
            return True

    def noise(self, data: bytes) -> None:
        with self._lock:
            if self._master >= 0:
                os.write(self._master, data)

    def play(self, lines: Iterable[Line], per_second: float) -> None:
        """Print ``lines`` at ``per_second`` lines a second of wall time."""
        start = time.monotonic()
        for n, line in enumerate(lines):
            delay = start + n / per_second - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self.print(line.text)

    def close(self) -> None:
        self.unplug()
