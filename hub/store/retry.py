"""Waiting out an unavailable database: what the hub's writer threads do instead of exiting.

Each writer (ingest, projection) runs its work through ``Patience.run``. While the database
is unavailable (hub/store/db.py ``mapped``) the work is run again with jittered
exponential backoff until it is taken or the thread is told to stop; nothing else is
done meanwhile, so nothing is acked that was not committed.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import TypeVar

from hub.errors import DatabaseUnavailable

T = TypeVar("T")

FIRST_S = 0.5
MAX_S = 10.0


class Patience:
    def __init__(
        self,
        stopping: threading.Event,
        down: Callable[[DatabaseUnavailable], None],
        up: Callable[[], None],
    ) -> None:
        self._stopping = stopping
        self._down = down  # told of each failed try
        self._up = up  # told after each try that worked

    def run(self, work: Callable[[], T]) -> T | None:
        """``work()`` once the database takes it; None when told to stop first."""
        delay = FIRST_S
        while not self._stopping.is_set():
            try:
                result = work()
            except DatabaseUnavailable as exc:
                self._down(exc)
                self._stopping.wait(delay * random.uniform(0.5, 1.0))
                delay = min(delay * 2, MAX_S)
                continue
            self._up()
            return result
        return None
