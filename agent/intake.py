"""The intake thread: the outbox's one writer (the Datasette ``_execute_writes`` pattern).

Scanner sources submit reads; this thread asks the station, commits the scans to the
outbox, and only then shows feedback and wakes the sender. Reads that queue up while a
commit runs are committed together (group commit), so a burst is not one fsync per scan.
Watermark updates from the sender are written here too, so SQLite never has two writers.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
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
from agent.outbox import Entry, OutboxStore, StationSave
from agent.session import Instant, StationState
from agent.station import Station, Verdict
from agent.sterilizer.cycles import Cycle
from agent.sterilizer.recorder import META_KEY, Recorder
from agent.sterilizer.verdicts import FailedLoadNotices
from protocol.messages import ScanContext, ScanEvent
from protocol.sterilizer import SterilizerReading
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
        recorder: Recorder | None = None,
        verdicts: FailedLoadNotices | None = None,
    ) -> None:
        self._agent_id = agent_id
        self._store = store
        self._station = station
        self._clock = clock
        self._sink = sink
        self._on_kept = on_kept
        self._retention_ns = retention_ns
        self._catalog = catalog  # the hub's reference snapshot, as the station last pulled it
        self._recorder = recorder  # the sterilizer's serial record, at a sterilizer station
        self._verdicts = verdicts  # what the hub said of its loads, as the screen showed it
        self._jobs: queue.Queue[_Job | _Read | _Line | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="intake", daemon=True)
        self.store_full = False
        self.readings_lost = 0  # sterilizer lines read but not kept (store full or failing)
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

    def sterilizer_status(self) -> dict[str, Any] | None:
        """The sterilizer's record as the station holds it, for ``status``."""
        if self._recorder is None:
            return None
        cycle = self._recorder.cycle
        return {
            "sterilizer": self._recorder.key,
            "cycle_id": cycle.cycle_id,
            "cycle_number": cycle.number,
            "phase": cycle.phase,
            "unreadable_lines": self._recorder.unreadable,
            "lines_lost": self.readings_lost,
            "screen": self._verdicts.last if self._verdicts else None,
        }

    def submit_lines(self, texts: list[str], source_id: str) -> None:
        """A sterilizer's lines read together, kept in one commit (with any scans queued)."""
        self._jobs.put(_Line(tuple(texts), source_id))

    def submit_quiet(self, source_id: str) -> None:
        """The sterilizer fell silent (agent/sterilizer/cycles.py rule 3)."""
        self._jobs.put(_Line((), source_id))

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
            if isinstance(job, _Read | _Line):
                # Group commit: reads already queued behind this one (a burst, several
                # scanners, a sterilizer's lines) are decided in order and committed in
                # one transaction. Scans first: a person waits for a scan's answer and
                # nobody waits for a sterilizer's line, so a second of its lines never
                # holds a scan up (the lines then take the seqs after the scans').
                group = [job]
                while len(group) < MAX_GROUP and isinstance(self._peek(), _Read | _Line):
                    group.append(self._jobs.get_nowait())  # type: ignore[arg-type]
                scans = [one for one in group if isinstance(one, _Read)]
                lines = [one for one in group if isinstance(one, _Line)]
                for part in (scans, lines):
                    if part:
                        self._guarded(part, self._take)
                continue
            fn, future = job
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the caller, never kills the writer
                future.set_exception(exc)

    def _peek(self) -> _Job | _Read | None:
        with self._jobs.mutex:
            return self._jobs.queue[0] if self._jobs.queue else None

    def _guarded(
        self, reads: Sequence[_Read | _Line], take: Callable[[Sequence[_Read | _Line]], None]
    ) -> None:
        try:
            take(reads)
        except BaseException as exc:  # a bug answers the waiting readers, never kills the writer
            log.exception("intake.failed")
            for read in reads:
                if isinstance(read, _Line):
                    self.readings_lost += len(read.texts)
                elif not read.future.done():
                    read.future.set_exception(exc)

    def _take(self, jobs: Sequence[_Read | _Line]) -> None:
        """Decide each read against the state the previous one left, commit, then answer."""
        state = self.state
        cycle = self._recorder.cycle if self._recorder else None
        decided: list[tuple[_Read, Verdict, UUID]] = []
        entries: list[Entry] = []
        readings: list[SterilizerReading] = []
        for read in jobs:
            if isinstance(read, _Line):
                if self._recorder is None or cycle is None:
                    continue
                for text in read.texts or (None,):
                    made = self._reading(self._recorder, cycle, text, read.source_id)
                    if made is not None:
                        cycle, sterilizer_reading, entry = made
                        readings.append(sterilizer_reading)
                        entries.append(entry)
                continue
            instant = self._clock.now()
            event_id: UUID = uuid6.uuid7()
            if read.reason is None:
                verdict = self._station.consider(
                    state, read.text, instant, str(event_id), self._catalog()
                )
            else:
                verdict = self._station.refuse(state, read.reason, read.text, instant)
            if verdict.record:
                payload = self._payload(
                    instant,
                    event_id,
                    read.scanner_id,
                    verdict.raw,
                    decoded=verdict.reading,
                    context=verdict.context,
                )
                entries.append(Entry(str(event_id), payload, station=_save(state, verdict)))
            decided.append((read, verdict, event_id))
            state = verdict.state
        meta = {META_KEY: cycle.to_json()} if readings and cycle is not None else None
        try:
            kept = self._store.append_many(entries, meta)
        except StoreFull as exc:
            self.store_full = True
            self.readings_lost += len(readings)
            log.error("outbox.full", error=str(exc))
            self._refuse_all(
                decided, Outcome.STORE_FULL, "Store full: scan NOT kept. Call support."
            )
            return
        except StoreError as exc:
            self.readings_lost += len(readings)
            log.error("outbox.error", error=str(exc))
            self._refuse_all(
                decided, Outcome.STORE_ERROR, "Scan NOT kept: storage error. Scan again."
            )
            return
        if entries:
            self.store_full = False
        if self._recorder is not None and cycle is not None and readings:
            self._recorder.advance(cycle, readings)
        self.state = state
        seq_of = {entry.event_id: seq for entry, seq in zip(entries, kept, strict=True)}
        for read, verdict, event_id in decided:
            feedback = Feedback(verdict.outcome, verdict.message, station=verdict.state)
            if verdict.record:
                reading = verdict.reading
                feedback = replace(
                    feedback,
                    seq=seq_of[str(event_id)],
                    event_id=str(event_id),
                    kind=reading.kind if reading else None,
                    warnings=reading.warnings if reading else (),
                )
            self._sink.show(feedback)
            read.future.set_result(feedback)
        if kept:
            self._on_kept(self._store.incarnation, kept[-1])

    def _refuse_all(
        self, decided: list[tuple[_Read, Verdict, UUID]], outcome: Outcome, message: str
    ) -> None:
        for read, verdict, _ in decided:
            # An empty read needed no storage: its own answer stands.
            said = (outcome, message) if verdict.record else (verdict.outcome, verdict.message)
            feedback = Feedback(*said, station=self.state)
            self._sink.show(feedback)
            read.future.set_result(feedback)

    def _reading(
        self, recorder: Recorder, cycle: Cycle, text: str | None, source_id: str
    ) -> tuple[Cycle, SterilizerReading, Entry] | None:
        """A sterilizer's line (None: its silence) as an event to keep, and the cycle after."""
        instant = self._clock.now()
        event_id: UUID = uuid6.uuid7()
        if text is None:
            ended = recorder.quiet(cycle)
            if ended is None:
                return None
            cycle, reading = ended
        else:
            cycle, reading = recorder.line(cycle, text, str(event_id))
        payload = self._payload(
            instant, event_id, source_id, text or "", context=_AT_STERILIZER, sterilizer=reading
        )
        return cycle, reading, Entry(str(event_id), payload, kind="readings")

    def _payload(
        self, instant: Instant, event_id: UUID, scanner_id: str, raw: str, **fields: Any
    ) -> Callable[[int], str]:
        """The event's JSON once its seq is known: a scan (``decoded``, ``context``) or a
        sterilizer's line (``sterilizer``)."""
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
                raw=raw,
                **fields,
            ).model_dump_json(exclude_none=True)

        return payload


_AT_STERILIZER = ScanContext(mode="sterilizer")


@dataclass(frozen=True)
class _Line:
    texts: tuple[str, ...]  # lines read together; none: the sterilizer fell silent
    source_id: str


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
