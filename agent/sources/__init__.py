"""Scanner sources, one file per driver. Each hands raw reads to ``Intake.submit``."""

from __future__ import annotations

import threading
from typing import Any, Protocol

from tenacity import Retrying, retry_if_exception_type, stop_when_event_set, wait_random_exponential


class ScannerSource(Protocol):
    """A hardware scanner driver: its own thread, reopening its device itself."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def state(self) -> dict[str, Any]: ...


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
