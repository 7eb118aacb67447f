"""USB HID keyboard-wedge scanners through python-evdev, grabbed so keys never reach a console.

The device is behind a small port (``open_device``) so tests can hand in a device that
produces real ``evdev.InputEvent`` objects: this machine has no /dev/uinput. evdev is
imported inside the default opener only.
"""

from __future__ import annotations

import contextlib
import select
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import structlog

from agent.decode import Frame
from agent.decode.keymap import KeyEvent, KeymapDecoder
from agent.settings import EvdevScanner
from agent.sources import reopen_policy

log = structlog.get_logger("agent.evdev")

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


class EvdevSource:
    def __init__(
        self,
        settings: EvdevScanner,
        deliver: Callable[[Frame, str], Any],
        reopen_max_s: float,
        open_device: Callable[[str], InputDevice] = open_evdev,
    ) -> None:
        self._settings = settings
        self._deliver = deliver
        self._reopen_max_s = reopen_max_s
        self._open_device = open_device
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"evdev-{settings.id}", daemon=True)
        self._decoder = KeymapDecoder(settings.layout, settings.terminator, settings.idle_timeout_s)
        self.connected = False
        self.reopens = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)

    def state(self) -> dict[str, Any]:
        return {
            "id": self._settings.id,
            "type": "evdev",
            "path": str(self._settings.path),
            "connected": self.connected,
            "reopens": self.reopens,
            "syn_dropped": self._decoder.dropped,
        }

    def _run(self) -> None:
        while not self._stopping.is_set():
            device = self._open()
            if device is None:
                return
            self.connected = True
            log.info("scanner.connected", scanner=self._settings.id)
            try:
                self._read(device)
            except OSError as exc:  # ENODEV when unplugged
                log.warning("scanner.unplugged", scanner=self._settings.id, error=str(exc))
            finally:
                self.connected = False
                with contextlib.suppress(OSError):
                    device.close()
            self.reopens += 1

    def _open(self) -> InputDevice | None:
        def attempt() -> InputDevice:
            device = self._open_device(str(self._settings.path))
            if self._settings.grab:
                device.grab()
            return device

        device: InputDevice | None = reopen_policy(self._stopping, self._reopen_max_s, (OSError,))(
            attempt
        )
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
                self._deliver(frame, self._settings.id)
