"""Raw SQLite inserts of rows a hub stored, into an empty copy of its own tables: the
baseline the benches compare the hub's writes against, with nothing computed."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

ROWS_PER_TRANSACTION = 1000


def fresh(source: sqlite3.Connection, path: Path, tables: list[str]) -> sqlite3.Connection:
    """A new database (WAL, synchronous=FULL, as the hub runs) with ``tables`` and their
    indexes as ``source`` declares them."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    marks = ",".join("?" * len(tables))
    for (sql,) in source.execute(
        f"SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND tbl_name IN ({marks})", tables
    ):
        db.execute(sql)
    return db


def timed_copy(
    source: sqlite3.Connection, target: sqlite3.Connection, table: str
) -> tuple[int, float]:
    """Insert every row of ``table`` from ``source`` into ``target``, 1,000 rows a
    transaction with executemany; return the rows and the seconds the inserts took."""
    rows = source.execute(f'SELECT * FROM "{table}"').fetchall()
    if not rows:
        return 0, 0.0
    marks = ",".join("?" * len(rows[0]))
    start = time.perf_counter()
    for at in range(0, len(rows), ROWS_PER_TRANSACTION):
        target.execute("BEGIN")
        target.executemany(
            f'INSERT INTO "{table}" VALUES ({marks})', rows[at : at + ROWS_PER_TRANSACTION]
        )
        target.execute("COMMIT")
    return len(rows), time.perf_counter() - start
