"""The evdev source: grabs the device, decodes its events, and reopens after ENODEV.

There is no /dev/uinput here, so the device is our own port, fed real InputEvent objects
through a real pipe that select() waits on.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable
from pathlib import Path

from evdev import InputEvent, ecodes

from agent.decode import Frame, Read
from agent.settings import EvdevScanner
from agent.sources.evdev_source import EvdevSource
from tests.harness.keyboard import Keyboard
from tests.harness.waiting import wait_for


class PipeDevice:
    """An input device whose events come from the test, readable through select()."""

    def __init__(self) -> None:
        self._r, self._w = os.pipe()
        self._pending: list[InputEvent] = []
        self.unplugged = False
        self.grabbed = False

    def fileno(self) -> int:
        return self._r

    def push(self, events: list[InputEvent]) -> None:
        self._pending.extend(events)
        os.write(self._w, b"x")

    def unplug(self) -> None:
        self.unplugged = True
        os.write(self._w, b"x")

    def read(self) -> Iterable[InputEvent]:
        os.read(self._r, 4096)
        if self.unplugged:
            raise OSError(errno.ENODEV, "No such device")
        events, self._pending = self._pending, []
        return events

    def grab(self) -> None:
        self.grabbed = True

    def close(self) -> None:
        os.close(self._r)
        os.close(self._w)


def test_reads_codes_reopens_after_enodev_and_reads_again(tmp_path: Path) -> None:
    """A code is read; ENODEV closes the device; the source reopens and reads the next code."""
    devices: list[PipeDevice] = []
    frames: list[Frame] = []
    plugged = {"now": True}

    def open_device(path: str) -> PipeDevice:
        if not plugged["now"]:
            raise OSError(errno.ENOENT, "No such file or directory")
        devices.append(PipeDevice())
        return devices[-1]

    settings = EvdevScanner(id="hid-1", path=tmp_path / "event-kbd")
    source = EvdevSource(settings, lambda f, _: frames.append(f), 0.2, open_device)
    source.start()
    try:
        wait_for(lambda: _true(source.connected), timeout=10)
        assert devices[0].grabbed
        devices[0].push(Keyboard().type("INS-1").enter().events)
        wait_for(lambda: _same(frames, [Read("INS-1")]), timeout=10)
        plugged["now"] = False
        devices[0].unplug()
        wait_for(lambda: _true(not source.connected), timeout=10)
        plugged["now"] = True
        wait_for(lambda: _true(source.connected and len(devices) == 2), timeout=10)
        devices[1].push(Keyboard().type("INS-2").enter().events)
        wait_for(lambda: _same(frames, [Read("INS-1"), Read("INS-2")]), timeout=10)
        assert source.state()["reopens"] == 1
    finally:
        source.stop()


def test_events_other_than_keys_are_ignored(tmp_path: Path) -> None:
    """Relative-motion or LED events from a combo device never reach a read."""
    device = PipeDevice()
    frames: list[Frame] = []
    settings = EvdevScanner(id="hid-2", path=tmp_path / "event-kbd", grab=False)
    source = EvdevSource(settings, lambda f, _: frames.append(f), 0.2, lambda _: device)
    source.start()
    try:
        wait_for(lambda: _true(source.connected), timeout=10)
        noise = [InputEvent(1, 0, ecodes.EV_REL, ecodes.REL_X, 5)]
        device.push(noise + Keyboard().type("TRY-9").enter().events)
        wait_for(lambda: _same(frames, [Read("TRY-9")]), timeout=10)
        assert not device.grabbed
    finally:
        source.stop()


def _true(value: bool) -> None:
    assert value


def _same(actual: list[Frame], expected: list[Frame]) -> None:
    assert actual == expected
