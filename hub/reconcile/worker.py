"""The projection stage as a worker any hub process can run (DESIGN.md §2-3).

It follows the scan log by its cursors (projector.py) and runs the timed checks
(checks.py). Two shapes, chosen by the composition root (docs/delivery.md):

- **SQLite, one writer.** SQLite takes one writer at a time, so the ingest worker calls
  ``step`` between its batches: small steps while messages flow, whole steps once they
  stop, each ending early when a message lands (ingest/worker.py).
- **PostgreSQL, apart.** ``start`` runs the worker in its own thread on its own
  connection. Ingest only stores, commits and acks, then ``wake``s it; an ack never waits
  for a projection step. Steps are whole (``projection_step_scans``) and end when the
  queue is empty. With several hubs each runs one, but only the leader's steps and checks
  (hub/cluster/leadership.py); the projector's advisory lock lets one step run at a time
  even when two hubs believe they lead (projector.py rule 6).

A step that finds the database unavailable is retried with backoff; what ingest stored
meanwhile waits in the queue, and the records catch up once it is back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import structlog
from sqlalchemy.engine import Engine

from hub.checkpoints import Checkpoint, passing
from hub.clock import HubClock
from hub.errors import DatabaseUnavailable
from hub.metrics import Metrics, stage
from hub.reconcile.apply import Reconciler
from hub.reconcile.checks import TimedChecks
from hub.reconcile.projector import Projector, Recent
from hub.settings import IngestSettings
from hub.store.db import mapped
from hub.store.retry import Patience

log = structlog.get_logger("hub.projection")

IDLE_S = 0.25  # a hub that did not ingest the scans (another hub did) finds them this late
# Steps start at most this often. A step's fixed cost (its transaction, the advisory lock,
# reading the queue and the cursors, a query per table to prefetch, the audit chain's
# head) is about the same for 5 scans as for 50: stepping on every ingest commit (50 a
# second at 200 stations) spent the CPU that acks need on that cost alone.
PACE_S = 0.1
# While ingest is flooded, a step is followed by a pause twice its length: the projector
# takes at most a third of the time, and the acks (the GIL, the CPU) the rest. The
# records lag through a flood and catch up after it, in whole steps. Not whenever a message
# waits: at 200 stations one nearly always does, and the records then lagged 0.9 s.
BUSY_SHARE = 3


class ProjectionWorker:
    def __init__(
        self,
        engine: Engine,
        reconciler: Reconciler,
        settings: IngestSettings,
        checks: TimedChecks,
        metrics: Metrics | None = None,
        ingest_flooded: Callable[[], bool] = lambda: False,
        clock: HubClock | None = None,
        checkpoint: Checkpoint = passing,
        leading: Callable[[], bool] = lambda: True,
    ) -> None:
        """``ingest_flooded``: this process's ingest has more waiting than it can take at
        once (ingest/worker.py ``flooded``); used apart only. ``clock``: the timed checks'.
        ``leading``: whether this hub is the one that projects (apart only)."""
        self._leading = leading
        self._engine = engine
        self._clock = clock or HubClock()
        self._ingest_flooded = ingest_flooded
        self._projector = Projector(reconciler)
        self._settings = settings
        self.checks = checks
        self._metrics = metrics or Metrics()
        self.recent = Recent()  # what this process's ingest stored, handed over in memory
        self.set_aside = 0  # scans the projector could not apply, since start
        self._stopping = threading.Event()
        self._woken = threading.Event()
        self._thread = threading.Thread(target=self._run, name="projector", daemon=True)
        self._patience = Patience(self._stopping, self._down, self._up)
        self._unavailable = False
        self._checkpoint = checkpoint
        self._steps_applied = 0

    # -- its own thread (PostgreSQL) -----------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._woken.set()
        if self._thread.is_alive():
            self._thread.join(timeout=15)

    def wake(self) -> None:
        """Ingest committed new scans."""
        self._woken.set()

    def _run(self) -> None:
        next_step = 0.0
        while not self._stopping.is_set():
            self._woken.wait(IDLE_S)
            self._stopping.wait(next_step - time.monotonic())
            self._woken.clear()
            if not self._leading():
                self.recent.clear()  # the leader reads the scans from the log
                continue
            while not self._stopping.is_set() and self._leading():  # steps while a backlog lasts
                started = time.monotonic()
                projected = self._patience.run(self._whole_step)
                took = time.monotonic() - started
                next_step = next_step_at(started, took, self._ingest_flooded())
                if (projected or 0) < self._settings.projection_step_scans:
                    break
                self._stopping.wait(next_step - time.monotonic())
            self.check_if_due()

    # -- one step, in the caller's thread ------------------------------------------------------

    def step(self, budget: int | None = None, yield_to: Callable[[], bool] | None = None) -> int:
        """One projection step of at most ``budget`` scans (default: a whole step) in its
        own transaction; the scans it projected. ``yield_to``: end the step early when it
        turns true (a message waits for the one writer)."""
        whole = self._settings.projection_step_scans
        with stage("projection"), mapped(), self._engine.begin() as conn:
            step = self._projector.step(
                conn, self.recent, min(whole, budget or whole), yield_to=yield_to
            )
            if step.projected:
                self._steps_applied += 1
                self._checkpoint("mid_projection", self._steps_applied)
        self.set_aside += step.set_aside
        return step.projected

    def _whole_step(self) -> int:
        return self.step()

    def check_if_due(self) -> None:
        if self.checks.due():
            self._patience.run(lambda: self.checks.run(self._clock.now()))

    def _down(self, exc: DatabaseUnavailable) -> None:
        self._metrics.database_errors.labels("unavailable").inc()
        if not self._unavailable:
            log.error("projection.database_unavailable", error=str(exc))
        self._unavailable = True
        self.recent.clear()

    def _up(self) -> None:
        if self._unavailable:
            log.info("projection.database_available")
        self._unavailable = False


def next_step_at(started: float, took: float, flooded: bool) -> float:
    """When the next projection step may start, after one that started at ``started`` and
    took ``took`` seconds: ``PACE_S`` later, and while ingest is flooded not before a pause
    twice the step's length (``BUSY_SHARE``). Both shapes pace their steps by this."""
    return started + max(PACE_S, BUSY_SHARE * took if flooded else 0.0)
