"""USB HID keyboard-wedge scanners through python-evdev, grabbed so keys never reach a console.

The device is behind a small port (``open_device``) so tests can hand in a device that
produces real ``evdev.InputEvent`` objects: this machine has no /dev/uinput. evdev is
imported inside the default opener only.
"""

from __future__ import annotations

import select
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from agent.decode import Frame
from agent.decode.keymap import KeyEvent, KeymapDecoder
from agent.settings import EvdevScanner
from agent.sources.device import DeviceSource

POLL_S = 0.05


class InputDevice(Protocol):
    def fileno(self) -> int: ...

    def read(self) -> Iterable[KeyEvent]: ...

    def grab(self) -> None: ...

    def close(self) -> None: ...


def open_evdev(path: str) -> InputDevice:
    import evdev

    device: InputDevice = evdev.InputDevice(path)
    return device


class EvdevSource(DeviceSource):
    kind = "evdev"

    def __init__(
        self,
        settings: EvdevScanner,
        deliver: Callable[[Frame, str], Any],
        reopen_max_s: float,
        open_device: Callable[[str], InputDevice] = open_evdev,
    ) -> None:
        super().__init__(settings.id, str(settings.path), reopen_max_s)
        self._settings = settings
        self._deliver = deliver
        self._opener = open_device
        self._decoder = KeymapDecoder(settings.layout, settings.terminator, settings.idle_timeout_s)

    def _extra_state(self) -> dict[str, Any]:
        return {"syn_dropped": self._decoder.dropped}

    def _open_device(self) -> InputDevice:
        device = self._opener(self._path)
        if self._settings.grab:
            device.grab()
        return device

    def _read(self, device: InputDevice) -> None:
        while not self._stopping.is_set():
            ready, _, _ = select.select([device], [], [], POLL_S)
            frames: list[Frame] = []
            if ready:
                for event in device.read():
                    frames.extend(self._decoder.feed(event))
            else:
                frames = self._decoder.flush(time.time())
            for frame in frames:
                self._deliver(frame, self.scanner_id)
