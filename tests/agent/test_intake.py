"""The intake thread with a real outbox file and a faked clock: clock steps, sessions."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agent.feedback import Feedback
from agent.intake import Intake
from agent.outbox import OutboxReader, OutboxStore
from agent.session import Instant
from agent.station import Station
from protocol.barcodes import DEFAULT_RULES
from protocol.vocabulary import Outcome


@dataclass
class FakeClock:
    """A Pi without an RTC: wall time that NTP may step, monotonic time that never goes back."""

    wall: datetime = datetime(1970, 1, 1, 0, 5, tzinfo=UTC)
    monotonic_ns: int = 5 * 10**9
    boot_id: str = "boot-a"
    synced: bool = False

    def now(self) -> Instant:
        self.monotonic_ns += 10**6
        self.wall += timedelta(milliseconds=1)
        return Instant(self.wall, self.monotonic_ns, self.boot_id, self.synced)


class Shown:
    def __init__(self) -> None:
        self.items: list[Feedback] = []

    def show(self, feedback: Feedback) -> None:
        self.items.append(feedback)


def _intake(path: Path, clock: FakeClock, mode: str = "asset_move") -> tuple[Intake, OutboxStore]:
    store = OutboxStore(path, 64 * 1024 * 1024)
    store.open()
    station = Station("Porter desk", mode, DEFAULT_RULES)
    intake = Intake("pi-1", store, station, clock, Shown(), lambda incarnation, seq: None, 0)
    intake.start()
    return intake, store


def _events(path: Path) -> list[dict[str, object]]:
    reader = OutboxReader(path)
    try:
        return [json.loads(row.payload) for row in reader.pending(1, 1000)]
    finally:
        reader.close()


def test_a_clock_step_keeps_seq_and_monotonic_order_and_the_hub_can_tell(tmp_path: Path) -> None:
    """When NTP steps the wall clock forward by decades mid-session, seq and monotonic time
    still order the scans, clock_synced flips, and wall vs monotonic deltas expose the step."""
    clock = FakeClock()
    intake, store = _intake(tmp_path / "outbox.db", clock)
    try:
        assert intake.submit("AST-1", "s").result(5).kept
        assert intake.submit("AST-2", "s").result(5).kept
        clock.wall = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)  # NTP sync steps the clock
        clock.synced = True
        assert intake.submit("AST-3", "s").result(5).kept
    finally:
        intake.stop()
        store.close()
    events = _events(tmp_path / "outbox.db")
    assert [e["seq"] for e in events] == [1, 2, 3]
    monotonic = [int(str(e["monotonic_ns"])) for e in events]
    assert monotonic == sorted(monotonic)
    assert [e["clock_synced"] for e in events] == [False, False, True]
    walls = [datetime.fromisoformat(str(e["scanned_at"])) for e in events]
    wall_gap = (walls[2] - walls[1]).total_seconds()
    mono_gap = (monotonic[2] - monotonic[1]) / 1e9
    assert wall_gap - mono_gap > 3600, "same boot: the wall/monotonic mismatch is the step"
    assert {e["boot_id"] for e in events} == {"boot-a"}


def test_open_session_survives_restart_of_the_intake(tmp_path: Path) -> None:
    """A move opened before a restart is still open after it, with its items: the next asset
    joins it and a repeat of an earlier one is still a duplicate."""
    clock = FakeClock()
    intake, store = _intake(tmp_path / "outbox.db", clock)
    opened = intake.submit("AST-1", "s").result(5)
    assert intake.submit("AST-0", "s").result(5).kept
    intake.stop()
    store.close()
    intake, store = _intake(tmp_path / "outbox.db", clock)
    try:
        assert intake.submit("AST-0", "s").result(5).outcome is Outcome.DUPLICATE
        joined = intake.submit("AST-2", "s").result(5)
        assert joined.outcome is Outcome.KEPT and joined.station is not None
        assert joined.station.session is not None
        assert joined.station.session.id == opened.event_id
    finally:
        intake.stop()
        store.close()
    contexts = [e["context"] for e in _events(tmp_path / "outbox.db")]
    assert [c.get("action") for c in contexts] == ["open", "add", None, "add"]  # type: ignore[attr-defined]
    assert contexts[3]["session_id"] == opened.event_id  # type: ignore[index]


def test_a_queued_burst_is_decided_in_order_and_committed_together(tmp_path: Path) -> None:
    """Reads queued without waiting (as scanner threads submit them) are each decided against
    the state the previous one left, and get gap-free seqs in submission order."""
    clock = FakeClock()
    intake, store = _intake(tmp_path / "outbox.db", clock, mode="tray_assembly")
    try:
        texts = ["INS-0", "TRY-1", "INS-1", "INS-1", "\r", "INS-2", "CMD-COMPLETE"] * 20
        futures = [intake.submit(text, "s") for text in texts]
        answers = [f.result(10) for f in futures]
    finally:
        intake.stop()
        store.close()
    K, NS, DUP, EMPTY = Outcome.KEPT, Outcome.NO_SESSION, Outcome.DUPLICATE, Outcome.EMPTY
    assert [a.outcome for a in answers] == [NS, K, K, DUP, EMPTY, K, K] * 20
    recorded = [a.seq for a in answers if a.outcome is not EMPTY]
    assert recorded == list(range(1, 121))
    assert [e["raw"] for e in _events(tmp_path / "outbox.db")] == [t for t in texts if t != "\r"]
