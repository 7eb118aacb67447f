"""Candidate scanners for ``scantrail-agent list-devices``.

The by-id links are what a configuration should name: they survive replugging and
reboots, where ``/dev/ttyACM0`` and ``/dev/input/event3`` do not.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEV = Path("/dev")


@dataclass(frozen=True)
class Candidate:
    type: str  # serial | evdev
    path: str  # the by-id link to put in the configuration
    target: str  # the device node it points at now
    likely_scanner: bool  # the name looks like a barcode scanner


_SCANNER_WORDS = ("scan", "barcode", "honeywell", "zebra", "symbol", "datalogic", "newland")


def list_devices(dev: Path = DEV) -> list[Candidate]:
    found: list[Candidate] = []
    for kind, folder, keep in (
        ("serial", dev / "serial" / "by-id", lambda name: True),
        # Keyboard-wedge scanners show up as "...-event-kbd"; mice and joysticks do not matter.
        ("evdev", dev / "input" / "by-id", lambda name: name.endswith("-event-kbd")),
    ):
        if not folder.is_dir():
            continue
        for link in sorted(folder.iterdir()):
            if not keep(link.name):
                continue
            lower = link.name.lower()
            found.append(
                Candidate(
                    type=kind,
                    path=str(link),
                    target=str(link.resolve()),
                    likely_scanner=any(word in lower for word in _SCANNER_WORDS),
                )
            )
    return found
