"""The durable outbox: every kept scan, in seq order, until the hub confirms it.

SQLite in WAL mode with ``synchronous=FULL``, so a committed scan survives power loss.
Only the intake thread writes (``OutboxStore``); other threads read through their own
``OutboxReader`` connection, which WAL allows alongside the writer.

Confirmation is a watermark (``meta.confirmed_seq``), not a per-row flag: the hub
confirms the highest contiguous seq, so one number says which rows may be pruned.

A numbering that is spent starts again under a new incarnation, with what the store holds
(``renumber``): when the hub holds seqs this file never kept or holds them with other
content (the file was restored from an old copy), and when a corrupt file is set aside
(``open_or_recover`` keeps every row it can still read). Each scan keeps its event id,
which the hub applies once whatever its numbering (hub/ingest/inbox.py rule 4).
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import sqlite_utils

from agent.errors import StoreCorrupt, StoreError, StoreFull
from protocol.messages import ScanEvent

SCHEMA_VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_ns INTEGER NOT NULL,
    kind TEXT NOT NULL DEFAULT 'scans'
);
CREATE TABLE IF NOT EXISTS session_items (
    session_id TEXT NOT NULL,
    item TEXT NOT NULL,
    PRIMARY KEY (session_id, item)
) WITHOUT ROWID;
"""


_INSERT = "INSERT INTO outbox (seq, event_id, payload, created_ns, kind) VALUES (?, ?, ?, ?, ?)"
# An outbox made before sterilizer readings (issue 32) holds only scans.
_ADD_KIND = "ALTER TABLE outbox ADD COLUMN kind TEXT NOT NULL DEFAULT 'scans'"
_SET_META = "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)"
# Confirmed rows go in seq order, up to the first row still within its retention: the
# walk reads only the rows it deletes. A prune that read every row kept took 20 ms at a
# week of a sterilizer's lines (600,000 rows), at each ack, on the thread scans wait for;
# an index on created_ns would do as well but be written at every scan's insert. A row
# the wall clock wrote out of order waits for the rows before it: kept longer, never
# shorter. One bound, not two: given ``seq <= ? AND seq < (...)``, SQLite ranges over
# one and filters by the other, reading every row again.
_PRUNE = """
DELETE FROM outbox WHERE seq <= min(:confirmed, coalesce(
    (SELECT seq FROM outbox WHERE created_ns >= :horizon ORDER BY seq LIMIT 1) - 1, :confirmed))
"""
SALVAGE_CHUNK = 500  # rows read at once from a corrupt file; a chunk that fails, one by one


class Row(NamedTuple):
    event_id: str
    payload: str
    created_ns: int


@dataclass(frozen=True)
class Salvage:
    """What was read back from a corrupt outbox set aside."""

    aside: Path
    kept: int  # rows taken into the new incarnation
    unreadable: int  # rows above the watermark that could not be read, or not as a scan


@dataclass(frozen=True)
class StationSave:
    """The station state to save with a scan: its JSON, the open session, items it gained."""

    state_json: str
    session_id: str | None
    new_items: frozenset[str]
    session_changed: bool


def _connect(path: Path) -> sqlite_utils.Database:
    # Opened by the composition root, then used only by the thread that owns it.
    db = sqlite_utils.Database(sqlite3.connect(path, check_same_thread=False))
    db.execute("PRAGMA busy_timeout = 5000")
    db.execute("PRAGMA synchronous = FULL")
    db.execute("PRAGMA journal_size_limit = 4194304")
    return db


class PendingRow(NamedTuple):
    """A NamedTuple, not a dataclass: the sender builds 100,000s of them while draining."""

    seq: int
    payload: str
    created_ns: int
    kind: str  # the topic kind it travels on: scans or readings (protocol/topics.py)


@dataclass(frozen=True)
class Entry:
    """One event to keep: its id, its payload once its seq is known, the topic kind it
    travels on, and the station state to save with it."""

    event_id: str
    build_payload: Callable[[int], str]
    kind: str = "scans"
    station: StationSave | None = None


@dataclass(frozen=True)
class OutboxStats:
    incarnation: str
    last_seq: int
    confirmed_seq: int
    backlog: int
    oldest_unconfirmed_ns: int | None
    size_bytes: int


class OutboxStore:
    """The single writer. Construct, then ``open()``; every method runs on one thread."""

    def __init__(self, path: Path, max_bytes: int) -> None:
        self._path = path
        self._max_bytes = max_bytes
        self._db: sqlite_utils.Database | None = None
        self.incarnation = ""
        self.last_seq = 0
        self.confirmed_seq = 0
        self.recovered_from: Salvage | None = None
        self._page_size = 0

    @property
    def path(self) -> Path:
        return self._path

    def open(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        try:
            db = _connect(self._path)
            db.enable_wal()
            check = db.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise StoreCorrupt(f"{self._path}: integrity check failed: {check}")
            db.executescript(_SCHEMA)
            if "kind" not in {column[1] for column in db.execute("PRAGMA table_info(outbox)")}:
                db.execute(_ADD_KIND)
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
            if "incarnation" not in meta:
                # A new file is a new incarnation: seq numbering restarts safely at 1.
                meta = {
                    "incarnation": uuid.uuid4().hex,
                    "confirmed_seq": "0",
                    "schema_version": SCHEMA_VERSION,
                    "created_ns": str(time.time_ns()),
                }
                with db.conn:
                    db.conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", meta.items())
            row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise StoreCorrupt(f"{self._path}: {exc}") from exc
        self._db = db
        self._page_size = int(db.execute("PRAGMA page_size").fetchone()[0])
        self.incarnation = meta["incarnation"]
        self.confirmed_seq = int(meta["confirmed_seq"])
        # sqlite_sequence keeps the highest seq ever used, even after pruning: never reused.
        self.last_seq = int(row[0]) if row else 0

    def open_or_recover(self) -> None:
        """Open; if the file is corrupt, move it aside and start a new incarnation with every
        row above its watermark that can still be read.

        Never crash-loops: a corrupt outbox is kept for forensics, the agent keeps scanning,
        and ``recovered_from`` raises an alarm until an operator deals with it.
        """
        try:
            self.open()
        except StoreCorrupt:
            aside = self._path.with_name(f"outbox.corrupt-{time.strftime('%Y%m%dT%H%M%S')}.db")
            for suffix in ("", "-wal", "-shm"):
                part = self._path.with_name(self._path.name + suffix)
                if part.exists():
                    part.rename(aside.with_name(aside.name + suffix))
            self.open()
            rows, unreadable = _readable(aside)
            kept = self._take_in(rows)
            self.recovered_from = Salvage(aside, kept, unreadable + len(rows) - kept)

    def renumber(self) -> int:
        """Start a new incarnation holding every row above the watermark, numbered from 1,
        in one transaction; return how many. Rows at or below it are confirmed: dropped."""
        db = self._require()
        rows = [
            Row(*row)
            for row in db.execute(
                "SELECT event_id, payload, created_ns FROM outbox WHERE seq > ? ORDER BY seq",
                (self.confirmed_seq,),
            ).fetchall()
        ]
        return self._take_in(rows, fresh_incarnation=True)

    def _take_in(self, rows: list[Row], fresh_incarnation: bool = False) -> int:
        """Append rows kept under another numbering: each payload says its new incarnation
        and seq. A payload that is not a scan any more is left out: how many were taken."""
        db = self._require()
        incarnation = uuid.uuid4().hex if fresh_incarnation else self.incarnation
        entries = []
        start = 1 if fresh_incarnation else self.last_seq + 1
        for seq, (scan, created_ns) in enumerate(_scans(rows), start=start):
            event = scan.model_copy(update={"incarnation": incarnation, "seq": seq})
            payload = event.model_dump_json(exclude_none=True)
            kind = "readings" if event.sterilizer is not None else "scans"
            entries.append((seq, str(event.event_id), payload, created_ns, kind))
        try:
            with db.conn:
                if fresh_incarnation:  # the old numbering goes in the same transaction
                    db.conn.execute("DELETE FROM outbox")
                    db.conn.execute("UPDATE sqlite_sequence SET seq = 0 WHERE name = 'outbox'")
                db.conn.executemany(_INSERT, entries)
                if fresh_incarnation:
                    db.conn.executemany(
                        _SET_META, [("incarnation", incarnation), ("confirmed_seq", "0")]
                    )
        except sqlite3.Error as exc:
            raise StoreError(f"could not keep renumbered scans: {exc}") from exc
        self.incarnation = incarnation
        if fresh_incarnation:
            self.confirmed_seq = 0
        self.last_seq = start - 1 + len(entries)
        return len(entries)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def meta(self, key: str) -> str | None:
        """A value saved with the events (``append_many``'s ``meta``)."""
        row = self._require().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def station_state(self) -> tuple[str, frozenset[str]] | None:
        """The station state saved with the last scan: its JSON and the open session's items."""
        db = self._require()
        row = db.execute("SELECT value FROM meta WHERE key = 'station'").fetchone()
        if row is None:
            return None
        items = db.execute("SELECT item FROM session_items").fetchall()
        return str(row[0]), frozenset(item for (item,) in items)

    def append(
        self, event_id: str, build_payload: Callable[[int], str], station: StationSave | None = None
    ) -> int:
        """Commit one scan with the next seq and return that seq. Raise ``StoreFull``."""
        return self.append_many([Entry(event_id, build_payload, station=station)])[0]

    def append_many(self, entries: list[Entry], meta: Mapping[str, str] | None = None) -> list[int]:
        """Commit events with the next seqs, all or none, in one transaction; return the seqs.

        Each entry's station state is saved in the same transaction as its scan, so an open
        session and the scans that built it can never disagree after a crash; so is
        ``meta`` (the sterilizer's cycle in progress, agent/sterilizer/cycles.py).
        """
        db = self._require()
        if not entries:
            return []
        if self.size_bytes() >= self._max_bytes:
            raise StoreFull(f"outbox reached its budget of {self._max_bytes} bytes")
        seqs = list(range(self.last_seq + 1, self.last_seq + 1 + len(entries)))
        now = time.time_ns()
        try:
            with db.conn:
                for seq, entry in zip(seqs, entries, strict=True):
                    payload = entry.build_payload(seq)
                    db.conn.execute(_INSERT, (seq, entry.event_id, payload, now, entry.kind))
                    if entry.station is not None:
                        self._save_station(db.conn, entry.station)
                if meta:
                    db.conn.executemany(_SET_META, meta.items())
        except sqlite3.Error as exc:
            if "full" in str(exc).lower():
                raise StoreFull(f"disk full while keeping scan: {exc}") from exc
            raise StoreError(f"could not keep scan: {exc}") from exc
        self.last_seq = seqs[-1]
        return seqs

    @staticmethod
    def _save_station(conn: sqlite3.Connection, station: StationSave) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('station', ?)", (station.state_json,)
        )
        if station.session_changed:
            conn.execute("DELETE FROM session_items")
        if station.session_id is not None and station.new_items:
            conn.executemany(
                "INSERT OR IGNORE INTO session_items (session_id, item) VALUES (?, ?)",
                [(station.session_id, item) for item in station.new_items],
            )

    def confirm(self, confirmed_seq: int, retention_ns: int) -> None:
        """Record the hub's watermark and prune confirmed rows older than the retention."""
        if confirmed_seq <= self.confirmed_seq:
            return
        db = self._require()
        horizon = time.time_ns() - retention_ns
        with db.conn:
            db.conn.execute(
                "UPDATE meta SET value = ? WHERE key = 'confirmed_seq'", (str(confirmed_seq),)
            )
            db.conn.execute(_PRUNE, {"confirmed": confirmed_seq, "horizon": horizon})
        self.confirmed_seq = confirmed_seq

    def size_bytes(self) -> int:
        """Pages in use (freed pages are reused, so pruning makes room). The WAL is transient
        and capped by journal_size_limit."""
        db = self._require()
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        pages -= db.execute("PRAGMA freelist_count").fetchone()[0]
        return int(pages * self._page_size)

    def _require(self) -> sqlite_utils.Database:
        if self._db is None:
            raise StoreError("outbox is not open")
        return self._db


class OutboxReader:
    """A read-only view for one thread (sender, status). Never writes."""

    def __init__(self, path: Path) -> None:
        self._db = _connect(path)

    def close(self) -> None:
        self._db.close()

    def pending(self, from_seq: int, limit: int) -> list[PendingRow]:
        rows = self._db.execute(
            "SELECT seq, payload, created_ns, kind FROM outbox WHERE seq >= ? ORDER BY seq LIMIT ?",
            (from_seq, limit),
        ).fetchall()
        return list(map(PendingRow._make, rows))

    def stats(self) -> OutboxStats:
        meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        confirmed = int(meta.get("confirmed_seq", "0"))
        last = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name='outbox'").fetchone()
        last_seq = int(last[0]) if last else 0
        oldest = self._db.execute(
            "SELECT created_ns FROM outbox WHERE seq > ? ORDER BY seq LIMIT 1", (confirmed,)
        ).fetchone()
        pages = self._db.execute("PRAGMA page_count").fetchone()[0]
        page_size = self._db.execute("PRAGMA page_size").fetchone()[0]
        return OutboxStats(
            incarnation=meta.get("incarnation", ""),
            last_seq=last_seq,
            confirmed_seq=confirmed,
            backlog=max(0, last_seq - confirmed),
            oldest_unconfirmed_ns=int(oldest[0]) if oldest else None,
            size_bytes=int(pages * page_size),
        )


def _scans(rows: list[Row]) -> list[tuple[ScanEvent, int]]:
    """Each row's scan, with when it was kept (its age stays true under a new number)."""
    events = []
    for row in rows:
        try:
            events.append((ScanEvent.model_validate_json(row.payload), row.created_ns))
        except ValueError:
            continue  # garbled on the card: counted by the caller as not taken
    return events


def _readable(path: Path) -> tuple[list[Row], int]:
    """The rows above the watermark of a corrupt outbox that can still be read, and how many
    above it could not be. A damaged page costs the rows on it, not the file: chunks of
    rows are read by seq, and a chunk that fails is read again one row at a time."""
    conn = _open_damaged(path)
    if conn is None:
        return [], 0
    try:
        confirmed = _number(conn, "SELECT value FROM meta WHERE key = 'confirmed_seq'")
        last = max(
            _number(conn, "SELECT seq FROM sqlite_sequence WHERE name = 'outbox'"),
            _number(conn, "SELECT max(seq) FROM outbox"),
        )
        rows: list[Row] = []
        query = "SELECT event_id, payload, created_ns FROM outbox WHERE seq BETWEEN ? AND ?"
        for start in range(confirmed + 1, last + 1, SALVAGE_CHUNK):
            end = min(start + SALVAGE_CHUNK - 1, last)
            try:
                rows.extend([Row(*row) for row in conn.execute(query, (start, end))])
                continue
            except sqlite3.Error:
                pass
            for seq in range(start, end + 1):
                try:
                    rows.extend([Row(*row) for row in conn.execute(query, (seq, seq))])
                except sqlite3.Error:
                    continue
        return rows, max(0, last - confirmed - len(rows))
    finally:
        conn.close()


def _open_damaged(path: Path) -> sqlite3.Connection | None:
    """Read-only if SQLite can (a WAL needs its -shm for that), else read-write: the file
    is set aside, and its rows are worth more than its bytes."""
    for mode in ("ro", "rw"):
        try:
            conn = sqlite3.connect(f"file:{path}?mode={mode}", uri=True)
        except sqlite3.Error:
            continue
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return conn
        except sqlite3.Error:
            conn.close()
    return None


def _number(conn: sqlite3.Connection, query: str) -> int:
    """One number read from a damaged file; 0 when it cannot be read."""
    try:
        row = conn.execute(query).fetchone()
        return int(row[0]) if row and row[0] is not None else 0
    except (sqlite3.Error, ValueError):
        return 0
