"""A spent numbering: the outbox renumbers what it holds, salvages a corrupt file, and the
sender goes on under the new incarnation (real outbox files, a fake broker link)."""

from __future__ import annotations

import queue
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agent.outbox import OutboxReader, OutboxStore
from agent.sender import Sender
from agent.settings import DeliverySettings
from protocol.messages import ScanEvent
from tests.agent.test_sender import FakeBroker, _ack, start_sender
from tests.harness.waiting import wait_for

ROWS = 600


def _keep(store: OutboxStore, count: int) -> list[str]:
    """``count`` real scans kept; their event ids."""
    ids = []
    for n in range(count):
        event_id = uuid.uuid4()

        def payload(seq: int, event_id: uuid.UUID = event_id, n: int = n) -> str:
            return ScanEvent(
                event_id=event_id,
                agent_id="pi-1",
                incarnation=store.incarnation,
                seq=seq,
                boot_id="b",
                monotonic_ns=n,
                scanned_at=datetime(2026, 12, 6, 8, 0, tzinfo=UTC),
                clock_synced=True,
                scanner_id="usb-1",
                raw=f"INS-{n:05d}",
            ).model_dump_json(exclude_none=True)

        store.append(str(event_id), payload)
        ids.append(str(event_id))
    return ids


def _rows(path: Path) -> list[ScanEvent]:
    reader = OutboxReader(path)
    try:
        return [ScanEvent.model_validate_json(r.payload) for r in reader.pending(1, 10**6)]
    finally:
        reader.close()


def test_renumbering_keeps_every_unconfirmed_scan_under_a_new_incarnation(tmp_path: Path) -> None:
    """Rows above the watermark are numbered 1..k in a new incarnation with their event
    ids and times; confirmed rows go; the numbering survives a reopen."""
    path = tmp_path / "outbox.db"
    store = OutboxStore(path, 10**9)
    store.open()
    ids = _keep(store, 10)
    store.confirm(4, retention_ns=10**18)
    before = store.incarnation
    assert store.renumber() == 6
    assert store.incarnation != before
    assert (store.last_seq, store.confirmed_seq) == (6, 0)
    rows = _rows(path)
    assert [(r.seq, str(r.event_id), r.incarnation) for r in rows] == [
        (n + 1, ids[4 + n], store.incarnation) for n in range(6)
    ]
    assert [r.raw for r in rows] == [f"INS-{n:05d}" for n in range(4, 10)]
    store.close()
    again = OutboxStore(path, 10**9)
    again.open()
    assert (again.incarnation, again.last_seq, again.confirmed_seq) == (store.incarnation, 6, 0)
    assert again.append("e-next", lambda seq: "{}") == 7
    again.close()


def test_a_corrupt_outbox_hands_its_readable_unconfirmed_rows_to_the_new_incarnation(
    tmp_path: Path,
) -> None:
    """One page overwritten with noise costs the rows on that page only: the rest above the
    watermark are taken into the new file, and the alarm counts what could not be read."""
    path = tmp_path / "outbox.db"
    store = OutboxStore(path, 10**9)
    store.open()
    ids = _keep(store, 2000)
    store.confirm(100, retention_ns=10**18)
    store.close()
    pages = path.stat().st_size // 4096
    with open(path, "r+b") as outbox:
        outbox.seek(4096 * (pages // 2))
        outbox.write(bytes(range(256)) * 16)
    recovered = OutboxStore(path, 10**9)
    recovered.open_or_recover()
    salvage = recovered.recovered_from
    assert salvage is not None and salvage.aside.exists()
    kept = {str(r.event_id) for r in _rows(path)}
    assert kept <= set(ids[100:]), "only unconfirmed rows come over, each once"
    assert salvage.kept == len(kept) == recovered.last_seq
    assert 0 < salvage.unreadable < 100, salvage
    assert salvage.kept + salvage.unreadable == 1900
    recovered.close()


@pytest.fixture
def sender(tmp_path: Path) -> Iterator[tuple[Sender, FakeBroker, queue.Queue[Any], OutboxStore]]:
    store = OutboxStore(tmp_path / "outbox.db", 10**9)
    store.open()
    _keep(store, ROWS)
    events: queue.Queue[Any] = queue.Queue()
    broker = FakeBroker(events)
    settings = DeliverySettings(drain_rate=1e9, resend_after_s=30, health_interval_s=3600)
    sender = start_sender(
        store, settings, events, broker, lambda seq: store.confirm(seq, retention_ns=10**18)
    )
    try:
        yield sender, broker, events, store
    finally:
        sender.stop()
        store.close()


def test_a_retained_ack_confirms_only_what_this_run_published(
    sender: tuple[Sender, FakeBroker, queue.Queue[Any], OutboxStore],
) -> None:
    """An ack for 400 before anything went out confirms nothing and skips nothing: 1..600
    all go out, and the hub's later ack confirms them."""
    running, broker, events, store = sender
    events.put(_ack(store.incarnation, 400))
    wait_for(lambda: _sent(broker, ROWS), timeout=10)
    assert broker.seqs[:ROWS] == list(range(1, ROWS + 1))
    assert running.state.confirmed_seq == 0
    events.put(_ack(store.incarnation, ROWS))
    wait_for(lambda: _confirmed(running, store, ROWS), timeout=10)


@pytest.mark.parametrize("spent", ["hub_ahead", "conflict"])
def test_a_spent_numbering_sends_every_unconfirmed_scan_again_under_a_new_incarnation(
    sender: tuple[Sender, FakeBroker, queue.Queue[Any], OutboxStore], spent: str
) -> None:
    """The hub holding seqs past the file's last, or a seq with other content above the
    watermark, makes the outbox renumber: the unconfirmed scans go out again as 1..k of
    the new incarnation, an alarm says so, and acks of the old incarnation are ignored."""
    running, broker, events, store = sender
    old = store.incarnation
    wait_for(lambda: _sent(broker, ROWS), timeout=10)
    events.put(_ack(old, 200))
    wait_for(lambda: _confirmed(running, store, 200), timeout=10)
    if spent == "hub_ahead":
        events.put(_ack(old, ROWS + 50))
    else:
        events.put(_ack(old, 200, conflict_seq=350))
    wait_for(lambda: _sent(broker, 2 * ROWS - 200), timeout=10)
    assert store.incarnation != old and "outbox_renumbered" in running.state.alarms
    assert broker.seqs[ROWS:] == list(range(1, ROWS - 200 + 1))
    events.put(_ack(old, ROWS))
    events.put(_ack(store.incarnation, ROWS - 200))
    wait_for(lambda: _confirmed(running, store, ROWS - 200), timeout=10)
    assert len(broker.seqs) == 2 * ROWS - 200


def _sent(broker: FakeBroker, count: int) -> None:
    assert len(broker.seqs) >= count


def _confirmed(running: Sender, store: OutboxStore, seq: int) -> None:
    assert running.state.confirmed_seq == seq and store.confirmed_seq == seq
