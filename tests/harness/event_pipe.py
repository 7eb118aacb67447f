"""A keyboard-wedge (evdev) scanner for an agent in a process of its own, on a machine with
no /dev/uinput to make one.

A FIFO carries the kernel's own ``struct input_event`` records, the bytes read(2) returns
on /dev/input/eventN. The agent runs as ``python -m tests.harness.event_pipe run ...``:
the agent's own main, with the evdev source's device port (``open_device``) swapped for
``FifoDevice``, which turns each record into an ``evdev.InputEvent`` as python-evdev's
reader does. Everything after the device (the source, its decoder, the station, the
outbox, the sender) is the agent's own. Closing the FIFO's last writer is an unplug: the
read sees the end, as ENODEV ends a real device's.
"""

from __future__ import annotations

import errno
import functools
import os
import struct
import sys
from collections.abc import Iterable
from pathlib import Path

from evdev import InputEvent

RECORD = struct.Struct("llHHi")  # struct input_event on 64-bit Linux: timeval, type, code, value


class EventPipe:
    """The scanner's end, in the test: plugged, its events reach the agent's device."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = -1
        self.plug()

    def plug(self) -> None:
        os.mkfifo(self.path)
        # Read and write: opening cannot wait for a reader, and the FIFO never reads as
        # ended while this end is open.
        self._fd = os.open(self.path, os.O_RDWR)

    def unplug(self) -> None:
        self.path.unlink()
        os.close(self._fd)
        self._fd = -1

    @property
    def plugged(self) -> bool:
        return self._fd >= 0

    def send(self, events: Iterable[InputEvent]) -> None:
        records = (RECORD.pack(e.sec, e.usec, e.type, e.code, e.value) for e in events)
        os.write(self._fd, b"".join(records))


class FifoDevice:
    """The agent's end: the evdev source's ``InputDevice`` port on the FIFO."""

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # ENOENT while unplugged
        self._rest = b""

    def fileno(self) -> int:
        return self._fd

    def read(self) -> list[InputEvent]:
        try:
            data = os.read(self._fd, 1024 * RECORD.size)
        except BlockingIOError:
            return []
        if not data:
            raise OSError(errno.ENODEV, "No such device")
        data = self._rest + data
        whole = len(data) - len(data) % RECORD.size
        self._rest = data[whole:]
        return [InputEvent(*RECORD.unpack_from(data, at)) for at in range(0, whole, RECORD.size)]

    def grab(self) -> None:
        pass  # the FIFO has one reader already

    def close(self) -> None:
        os.close(self._fd)


def main() -> int:
    from agent import __main__ as agent_main
    from agent import bootstrap
    from agent.sources.evdev_source import EvdevSource

    bootstrap.EvdevSource = functools.partial(EvdevSource, open_device=FifoDevice)  # type: ignore[misc]
    return agent_main.main()


if __name__ == "__main__":
    sys.exit(main())
