"""The intake thread: the outbox's one writer (the Datasette ``_execute_writes`` pattern).

Scanner sources submit reads; this thread asks the station, commits the scans to the
outbox, and only then shows feedback and wakes the sender. Reads that queue up while a
commit runs are committed together (group commit), so a burst is not one fsync per scan.
Watermark updates from the sender are written here too, so SQLite never has two writers.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

import structlog
import uuid6

from agent.catalog import Catalog
from agent.clock import Clock
from agent.errors import StoreError, StoreFull
from agent.feedback import Feedback, FeedbackSink
from agent.outbox import OutboxStore, StationSave
from agent.session import Instant, StationState
from agent.station import Station, Verdict
from protocol.messages import ScanEvent
from protocol.vocabulary import Outcome

log = structlog.get_logger("agent.intake")

_Job = tuple[Callable[[], Any], "Future[Any]"]
MAX_GROUP = 64  # reads committed together at most; bounds the wait of the first one


class Intake:
    def __init__(
        self,
        agent_id: str,
        store: OutboxStore,
        station: Station,
        clock: Clock,
        sink: FeedbackSink,
        on_kept: Callable[[str, int], None],
        retention_ns: int,
        catalog: Callable[[], Catalog | None] = lambda: None,
    ) -> None:
        self._agent_id = agent_id
        self._store = store
        self._station = station
        self._clock = clock
        self._sink = sink
        self._on_kept = on_kept
        self._retention_ns = retention_ns
        self._catalog = catalog  # the hub's reference snapshot, as the station last pulled it
        self._jobs: queue.Queue[_Job | _Read | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="intake", daemon=True)
        self.store_full = False
        self.state: StationState = station.initial()  # replaced, never mutated: safe to read

    def start(self) -> None:
        saved = self._store.station_state()
        restored = StationState.from_json(*saved) if saved else None
        self.state = self._station.restore(restored, self._clock.now().boot_id)
        self._thread.start()

    def current_state(self) -> StationState:
        """The station as the person sees it now (idle logout applied)."""
        return self._station.current(self.state, self._clock.now())

    def stop(self) -> None:
        self._jobs.put(None)
        self._thread.join(timeout=10)

    def submit(self, text: str, scanner_id: str) -> Future[Feedback]:
        return self._read(text, scanner_id, None)

    def submit_bad(self, reason: str, text: str, scanner_id: str) -> Future[Feedback]:
        return self._read(text, scanner_id, reason)

    def _read(self, text: str, scanner_id: str, reason: str | None) -> Future[Feedback]:
        future: Future[Feedback] = Future()
        self._jobs.put(_Read(text, scanner_id, reason, future))
        return future

    def responsive(self, timeout_s: float) -> bool:
        """Whether the writer thread works through its queue (for the systemd watchdog)."""
        try:
            self._call(lambda: None).result(timeout=timeout_s)
        except TimeoutError:
            return False
        return True

    def confirm(self, confirmed_seq: int) -> Future[None]:
        return self._call(lambda: self._store.confirm(confirmed_seq, self._retention_ns))

    def renumber(self) -> Future[tuple[str, int]]:
        """A new incarnation holding every unconfirmed scan (outbox.py): its id, last seq."""

        def renumber() -> tuple[str, int]:
            self._store.renumber()
            return self._store.incarnation, self._store.last_seq

        return self._call(renumber)

    def _call(self, fn: Callable[[], Any]) -> Future[Any]:
        future: Future[Any] = Future()
        self._jobs.put((fn, future))
        return future

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            if isinstance(job, _Read):
                # Group commit: reads already queued behind this one (a burst, several
                # scanners) are decided in order and committed in one transaction.
                reads = [job]
                while len(reads) < MAX_GROUP and isinstance(self._peek(), _Read):
                    reads.append(self._jobs.get_nowait())  # type: ignore[arg-type]
                self._guarded(reads, self._take)
                continue
            fn, future = job
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the caller, never kills the writer
                future.set_exception(exc)

    def _peek(self) -> _Job | _Read | None:
        with self._jobs.mutex:
            return self._jobs.queue[0] if self._jobs.queue else None

    @staticmethod
    def _guarded(reads: list[_Read], take: Callable[[list[_Read]], None]) -> None:
        try:
            take(reads)
        except BaseException as exc:  # a bug answers the waiting readers, never kills the writer
            for read in reads:
                if not read.future.done():
                    read.future.set_exception(exc)

    def _take(self, reads: list[_Read]) -> None:
        """Decide each read against the state the previous one left, commit, then answer."""
        state = self.state
        decided: list[tuple[_Read, Verdict, UUID]] = []
        entries: list[tuple[str, Callable[[int], str], StationSave | None]] = []
        for read in reads:
            instant = self._clock.now()
            event_id: UUID = uuid6.uuid7()
            if read.reason is None:
                verdict = self._station.consider(
                    state, read.text, instant, str(event_id), self._catalog()
                )
            else:
                verdict = self._station.refuse(state, read.reason, read.text, instant)
            if verdict.record:
                payload = self._payload(verdict, read.scanner_id, instant, event_id)
                entries.append((str(event_id), payload, _save(state, verdict)))
            decided.append((read, verdict, event_id))
            state = verdict.state
        try:
            seqs = iter(self._store.append_many(entries))
        except StoreFull as exc:
            self.store_full = True
            log.error("outbox.full", error=str(exc))
            self._refuse_all(
                decided, Outcome.STORE_FULL, "Store full: scan NOT kept. Call support."
            )
            return
        except StoreError as exc:
            log.error("outbox.error", error=str(exc))
            self._refuse_all(
                decided, Outcome.STORE_ERROR, "Scan NOT kept: storage error. Scan again."
            )
            return
        if entries:
            self.store_full = False
        self.state = state
        last_seq = None
        for read, verdict, event_id in decided:
            feedback = Feedback(verdict.outcome, verdict.message, station=verdict.state)
            if verdict.record:
                last_seq = next(seqs)
                reading = verdict.reading
                feedback = replace(
                    feedback,
                    seq=last_seq,
                    event_id=str(event_id),
                    kind=reading.kind if reading else None,
                    warnings=reading.warnings if reading else (),
                )
            self._sink.show(feedback)
            read.future.set_result(feedback)
        if last_seq is not None:
            self._on_kept(self._store.incarnation, last_seq)

    def _refuse_all(
        self, decided: list[tuple[_Read, Verdict, UUID]], outcome: Outcome, message: str
    ) -> None:
        for read, verdict, _ in decided:
            # An empty read needed no storage: its own answer stands.
            said = (outcome, message) if verdict.record else (verdict.outcome, verdict.message)
            feedback = Feedback(*said, station=self.state)
            self._sink.show(feedback)
            read.future.set_result(feedback)

    def _payload(
        self, verdict: Verdict, scanner_id: str, instant: Instant, event_id: UUID
    ) -> Callable[[int], str]:
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

        return payload


@dataclass(frozen=True)
class _Read:
    text: str
    scanner_id: str
    reason: str | None  # set when the framing layer already refused it
    future: Future[Feedback]


def _save(before: StationState, verdict: Verdict) -> StationSave | None:
    """What of the station state must be written with this scan (nothing if unchanged)."""
    after = verdict.state
    if after is before:
        return None
    old, new = before.session, after.session
    changed = (old.id if old else None) != (new.id if new else None)
    joined = frozenset({verdict.joined}) if verdict.joined else frozenset()
    return StationSave(after.to_json(), new.id if new else None, joined, changed)
