"""The outbox on a real SQLite file: seq, confirmation, pruning and the disk budget."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from agent.errors import StoreFull
from agent.outbox import OutboxReader, OutboxStore


def _fill(store: OutboxStore, count: int) -> list[int]:
    return [
        store.append(f"e{n}", lambda seq: f'{{"seq":{seq},"pad":"{"x" * 400}"}}')
        for n in range(count)
    ]


def test_seq_is_gap_free_and_survives_reopen_and_pruning(tmp_path: Path) -> None:
    """Seqs continue after a reopen and are never reused after confirmed rows are pruned."""
    store = OutboxStore(tmp_path / "o.db", 10**9)
    store.open()
    assert _fill(store, 3) == [1, 2, 3]
    store.confirm(3, retention_ns=0)
    store.close()
    again = OutboxStore(tmp_path / "o.db", 10**9)
    again.open()
    assert (again.confirmed_seq, _fill(again, 2)) == (3, [4, 5])
    stats = OutboxReader(tmp_path / "o.db").stats()
    assert (stats.backlog, stats.last_seq, stats.confirmed_seq) == (2, 5, 3)


def test_pruning_takes_confirmed_rows_in_seq_order_up_to_the_first_within_retention(
    tmp_path: Path,
) -> None:
    """A confirm prunes the confirmed rows past their retention in seq order; a row the wall
    clock wrote older than a row before it waits for that row, and unconfirmed rows stay
    however old."""
    path = tmp_path / "o.db"
    store = OutboxStore(path, 10**9)
    store.open()
    _fill(store, 6)
    hour_ns = 3600 * 10**9
    ages = {1: 9, 2: 5, 3: 3, 4: 0, 5: 9, 6: 9}  # hours; the clock stepped back after seq 4
    now = time.time_ns()
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "UPDATE outbox SET created_ns = ? WHERE seq = ?",
            [(now - age * hour_ns, seq) for seq, age in ages.items()],
        )
    store.confirm(5, retention_ns=2 * hour_ns)
    with sqlite3.connect(path) as conn:
        left = [seq for (seq,) in conn.execute("SELECT seq FROM outbox ORDER BY seq")]
        conn.execute("UPDATE outbox SET created_ns = ? WHERE seq = 4", (now - 3 * hour_ns,))
    assert left == [4, 5, 6]
    store.confirm(6, retention_ns=2 * hour_ns)
    store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0


def test_budget_refuses_then_pruning_confirmed_rows_makes_room(tmp_path: Path) -> None:
    """A full outbox refuses scans; once the hub confirms and rows are pruned, it accepts again."""
    store = OutboxStore(tmp_path / "o.db", 64 * 1024)
    store.open()
    with pytest.raises(StoreFull):
        _fill(store, 10_000)
    kept = store.last_seq
    assert OutboxReader(tmp_path / "o.db").stats().backlog == kept
    store.confirm(kept, retention_ns=0)
    assert _fill(store, 5) == list(range(kept + 1, kept + 6))
