"""Scanner sources, one file per driver. Each hands raw reads to ``Intake.submit``."""

from __future__ import annotations

from typing import Any, Protocol


class ScannerSource(Protocol):
    """A hardware scanner driver: its own thread, reopening its device itself."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def state(self) -> dict[str, Any]: ...
