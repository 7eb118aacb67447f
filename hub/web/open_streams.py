"""How many live streams this hub process holds open, per token and in all."""

from __future__ import annotations

import threading
from collections import Counter

from hub.web.errors import TooMany


class Streams:
    """The streams this process holds open, per token: at most ``per_token`` each and
    ``total`` in all, so one viewer's token cannot take the hub's threads and database."""

    def __init__(self, per_token: int, total: int) -> None:
        self._per_token = per_token
        self._total = total
        self._open: Counter[str] = Counter()
        self._lock = threading.Lock()

    def open(self, token: str) -> None:
        with self._lock:
            if self._open[token] >= self._per_token:
                raise TooMany(
                    f"this token already holds {self._per_token} live streams: close one",
                    {"limit": self._per_token},
                )
            if self._open.total() >= self._total:
                raise TooMany(
                    f"the hub holds {self._total} live streams, its most: try again later",
                    {"limit": self._total},
                )
            self._open[token] += 1

    def close(self, token: str) -> None:
        with self._lock:
            self._open[token] -= 1
            if self._open[token] <= 0:
                del self._open[token]
