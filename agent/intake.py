"""The intake thread: the outbox's one writer (the Datasette ``_execute_writes`` pattern).

Scanner sources submit reads; this thread asks the station, commits the kept scan to the
outbox, and only then shows feedback and wakes the sender. Watermark updates from the
sender are written here too, so SQLite never has two writers.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any
from uuid import UUID

import structlog
import uuid6

from agent.clock import Clock, Instant
from agent.errors import StoreError, StoreFull
from agent.feedback import Feedback, FeedbackSink, Outcome
from agent.outbox import OutboxStore
from agent.session import StationState
from agent.station import Station, Verdict
from protocol.messages import ScanEvent

log = structlog.get_logger("agent.intake")

_Job = tuple[Callable[[], Any], "Future[Any]"]


class Intake:
    def __init__(
        self,
        agent_id: str,
        store: OutboxStore,
        station: Station,
        clock: Clock,
        sink: FeedbackSink,
        on_kept: Callable[[int], None],
        retention_ns: int,
    ) -> None:
        self._agent_id = agent_id
        self._store = store
        self._station = station
        self._clock = clock
        self._sink = sink
        self._on_kept = on_kept
        self._retention_ns = retention_ns
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="intake", daemon=True)
        self.store_full = False
        self.state: StationState = station.initial()  # replaced, never mutated: safe to read

    def start(self) -> None:
        saved = self._store.station_state()
        restored = StationState.from_json(saved) if saved else None
        self.state = self._station.restore(restored, self._clock.now().boot_id)
        self._thread.start()

    def current_state(self) -> StationState:
        """The station as the person sees it now (idle logout applied)."""
        return self._station.current(self.state, self._clock.now())

    def stop(self) -> None:
        self._jobs.put(None)
        self._thread.join(timeout=10)

    def submit(self, text: str, scanner_id: str) -> Future[Feedback]:
        return self._call(lambda: self._consider(text, scanner_id))

    def submit_bad(self, reason: str, text: str, scanner_id: str) -> Future[Feedback]:
        def refuse() -> Feedback:
            instant = self._clock.now()
            verdict = self._station.refuse(self.state, reason, text, instant)
            return self._record(verdict, scanner_id, instant, uuid6.uuid7())

        return self._call(refuse)

    def responsive(self, timeout_s: float) -> bool:
        """Whether the writer thread works through its queue (for the systemd watchdog)."""
        try:
            self._call(lambda: None).result(timeout=timeout_s)
        except TimeoutError:
            return False
        return True

    def confirm(self, confirmed_seq: int) -> Future[None]:
        return self._call(lambda: self._store.confirm(confirmed_seq, self._retention_ns))

    def _call(self, fn: Callable[[], Any]) -> Future[Any]:
        future: Future[Any] = Future()
        self._jobs.put((fn, future))
        return future

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            fn, future = job
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the caller, never kills the writer
                future.set_exception(exc)

    def _consider(self, text: str, scanner_id: str) -> Feedback:
        instant = self._clock.now()
        event_id = uuid6.uuid7()
        verdict = self._station.consider(self.state, text, instant, str(event_id))
        return self._record(verdict, scanner_id, instant, event_id)

    def _record(
        self, verdict: Verdict, scanner_id: str, instant: Instant, event_id: UUID
    ) -> Feedback:
        if not verdict.record:
            feedback = Feedback(verdict.outcome, verdict.message, station=verdict.state)
            self._sink.show(feedback)
            return feedback
        incarnation = self._store.incarnation

        def payload(seq: int) -> str:
            return ScanEvent(
                event_id=event_id,
                agent_id=self._agent_id,
                incarnation=incarnation,
                seq=seq,
                boot_id=instant.boot_id,
                monotonic_ns=instant.monotonic_ns,
                scanned_at=instant.wall,
                clock_synced=instant.synced,
                scanner_id=scanner_id,
                raw=verdict.raw,
                decoded=verdict.reading,
                context=verdict.context,
            ).model_dump_json(exclude_none=True)

        try:
            state_json = verdict.state.to_json() if verdict.state != self.state else None
            seq = self._store.append(str(event_id), payload, state_json)
        except StoreFull as exc:
            self.store_full = True
            log.error("outbox.full", error=str(exc))
            message = "Store full: scan NOT kept. Call support."
            feedback = Feedback(Outcome.STORE_FULL, message, station=self.state)
            self._sink.show(feedback)
            return feedback
        except StoreError as exc:
            log.error("outbox.error", error=str(exc))
            message = "Scan NOT kept: storage error. Scan again."
            feedback = Feedback(Outcome.STORE_ERROR, message, station=self.state)
            self._sink.show(feedback)
            return feedback
        self.store_full = False
        self.state = verdict.state
        reading = verdict.reading
        feedback = Feedback(
            verdict.outcome,
            verdict.message,
            seq=seq,
            event_id=str(event_id),
            kind=reading.kind if reading else None,
            warnings=reading.warnings if reading else (),
            station=verdict.state,
        )
        self._sink.show(feedback)
        self._on_kept(seq)
        return feedback
