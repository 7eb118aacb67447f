"""The hub's verdict on a load, on the station's screen (issue 32): when the reference
snapshot says the sterilizer's own record failed a load on this station's sterilizer, or
the load this station has open, the screen says STOP, which load and why, once per load.
The hub decides (hub/reconcile/capture.py); the station only tells."""

from __future__ import annotations

import threading
from collections.abc import Callable

from agent.catalog import Catalog
from agent.feedback import Feedback, FeedbackSink
from agent.session import StationState
from protocol.reference import FailedLoad
from protocol.vocabulary import Outcome


def message(load: FailedLoad) -> str:
    return (
        f"Load {load.label} FAILED the sterilizer's record: {load.reason}. "
        "Do not release it: close it as failed and reprocess the load."
    )


class FailedLoadNotices:
    def __init__(
        self, sterilizer: str | None, state: Callable[[], StationState], sink: FeedbackSink
    ) -> None:
        self._sterilizer = sterilizer
        self._state = state
        self._sink = sink
        self._told: set[str] = set()
        self._lock = threading.Lock()
        self.last: str | None = None  # the newest said, for the station's status

    def update(self, catalog: Catalog) -> None:
        """A new snapshot (the reference puller's thread)."""
        state = self._state()
        open_load = state.session.id if state.session else None
        mine = [
            load
            for load in catalog.snapshot.failed_loads
            if load.sterilizer == self._sterilizer or load.key == open_load
        ]
        with self._lock:
            news = [load for load in mine if load.key not in self._told]
            self._told.update(load.key for load in news)
        for load in reversed(news):  # oldest first: the newest stays on the screen
            self.last = message(load)
            self._sink.show(Feedback(Outcome.BLOCKED, self.last, station=state))
