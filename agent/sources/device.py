"""The loop every hardware scanner driver shares: open, read until unplugged, reopen.

A driver supplies how to open its device, how to read it, and which errors mean
"unplugged"; this class owns the thread, the state and the reopen policy (tenacity).
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import structlog
from tenacity import Retrying, retry_if_exception_type, stop_when_event_set, wait_random_exponential

log = structlog.get_logger("agent.scanner")


def reopen_policy(
    stopping: threading.Event, max_wait_s: float, errors: tuple[type[BaseException], ...]
) -> Retrying:
    """How every driver reopens its device: jittered backoff until it opens or we stop.

    tenacity is the one owner of this retry. Giving up (on stop) returns ``None``.
    """

    def sleep(seconds: float) -> None:
        stopping.wait(seconds)

    return Retrying(
        wait=wait_random_exponential(multiplier=0.2, max=max_wait_s),
        retry=retry_if_exception_type(errors),
        stop=stop_when_event_set(stopping),
        sleep=sleep,
        retry_error_callback=lambda _: None,
    )


class DeviceSource:
    kind = "device"

    def __init__(self, scanner_id: str, path: str, reopen_max_s: float) -> None:
        self.scanner_id = scanner_id
        self._path = path
        self._reopen_max_s = reopen_max_s
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"scanner-{scanner_id}", daemon=True)
        self.connected = False
        self.reopens = 0

    # -- what a driver provides -------------------------------------------------------

    def _unplug_errors(self) -> tuple[type[BaseException], ...]:
        return (OSError,)

    def _open_device(self) -> Any:
        raise NotImplementedError

    def _read(self, device: Any) -> None:
        """Read and deliver until stopped; raise an unplug error when the device goes."""
        raise NotImplementedError

    def _extra_state(self) -> dict[str, Any]:
        return {}

    # -- the shared lifecycle ---------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)

    def state(self) -> dict[str, Any]:
        return {
            "id": self.scanner_id,
            "type": self.kind,
            "path": self._path,
            "connected": self.connected,
            "reopens": self.reopens,
            **self._extra_state(),
        }

    def _run(self) -> None:
        errors = self._unplug_errors()
        while not self._stopping.is_set():
            device = reopen_policy(self._stopping, self._reopen_max_s, errors)(self._open_device)
            if device is None:
                return  # stopping
            self.connected = True
            log.info("scanner.connected", scanner=self.scanner_id)
            try:
                self._read(device)
            except errors as exc:
                log.warning("scanner.unplugged", scanner=self.scanner_id, error=str(exc))
            finally:
                self.connected = False
                with contextlib.suppress(*errors):
                    device.close()
            self.reopens += 1
