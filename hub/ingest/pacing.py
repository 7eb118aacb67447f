"""When the SQLite hub's one writer projects between batches (worker.py's docstring, step
5): ingest comes first. Pure: every answer is computed from the time it is given, so a
test drives it with a fake clock (tests/hub/test_projection_pace.py).

- While the records lag, the writer does not sit waiting for messages: it waits at most
  until the next step is due.
- No batch for ``QUIET_S``, and none waiting: a catch-up step (large; it stops early when
  a message lands).
- Otherwise, a busy step (at most ``BUSY_STEP_SCANS``) once ``next_step_at`` allows.
"""

from __future__ import annotations

from enum import Enum

from hub.reconcile.worker import next_step_at

BUSY_STEP_SCANS = 100  # about 10 ms of rules: what an ack may wait for while messages flow
QUIET_S = 0.05  # no batch for this long: the agents are quiet, project in whole steps
IDLE_WAIT_S = 0.2  # how long the writer waits for a message while the records are current


class Step(Enum):
    CATCH_UP = "catch_up"
    BUSY = "busy"


class Pacer:
    def __init__(self) -> None:
        self.lagging = False  # the last step projected something, or scans came since
        self._next_busy_step = 0.0
        self._batch_at = 0.0

    def wait_for_messages(self, now: float) -> float:
        """How long the writer may wait for the next message."""
        if not self.lagging:
            return IDLE_WAIT_S
        return max(0.0, min(self._batch_at + QUIET_S, self._next_busy_step) - now)

    def batch_done(self, now: float) -> None:
        self._batch_at = now

    def scans_stored(self) -> None:
        self.lagging = True

    def step_due(self, now: float, messages_wait: bool) -> Step | None:
        if not messages_wait and now >= self._batch_at + QUIET_S:
            return Step.CATCH_UP
        if now >= self._next_busy_step:
            return Step.BUSY
        return None

    def stepped(self, started: float, took: float, flooded: bool, projected: int) -> None:
        self._next_busy_step = next_step_at(started, took, flooded)
        self.lagging = projected > 0
