"""An identity map over one table for one reconcile pass: rows by primary key, read in bulk
with ``IN`` queries, changed in memory, written back in bulk at ``flush``.

Why not one statement per change: a SQLAlchemy Core statement costs about 100 µs to build
and run, and a scan made about eight: the hub ran at about 1,200 scans/s. Why not the
SQLAlchemy ORM session: it keeps attribute history and relationships per object, more than
reconcile needs (not measured here). This map does only what reconcile needs.

Correctness never depends on ``prefetch``: ``get`` and ``where`` read what was not
prefetched one query at a time. Prefetching only saves those queries.
"""

from __future__ import annotations

import functools
import operator
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.domain.facts import utc
from hub.store.db import Bulk

Row = dict[str, Any]
IN_CHUNK = 1000  # values per IN list: far below SQLite's and PostgreSQL's bind limits


class Rows:
    def __init__(self, table: sa.Table, index: tuple[str, ...] = ()) -> None:
        self.table = table
        self._pk = tuple(c.name for c in table.primary_key.columns)
        # A row's primary key as a tuple; itemgetter of one name returns the bare value.
        pick = operator.itemgetter(*self._pk)
        self.key: Callable[[Row], tuple[Any, ...]] = (
            (lambda row: (pick(row),)) if len(self._pk) == 1 else pick
        )
        self._blank: Row = {c.name: None for c in table.columns}
        self._times = tuple(c.name for c in table.columns if isinstance(c.type, sa.DateTime))
        self._rows: dict[tuple[Any, ...], Row | None] = {}  # None: known to be absent
        self._index: dict[str, defaultdict[Any, set[tuple[Any, ...]]]] = {
            column: defaultdict(set) for column in index
        }
        self._complete: set[tuple[str, Any]] = set()  # (column, value) read in full
        self._new: dict[tuple[Any, ...], None] = {}  # insertion order
        self._dirty: dict[tuple[Any, ...], set[str]] = {}  # key: the columns changed

    # -- reads -------------------------------------------------------------------------------

    def prefetch(self, conn: Connection, column: str, values: Iterable[Any]) -> None:
        """Read every row whose ``column`` is one of ``values``, once per pass."""
        wanted = sorted({v for v in values if v is not None and (column, v) not in self._complete})
        for at in range(0, len(wanted), IN_CHUNK):
            chunk = wanted[at : at + IN_CHUNK]
            query = sa.select(self.table).where(self.table.c[column].in_(chunk))
            for row in conn.execute(query).mappings():
                self._remember(dict(row), stored=True)
            self._complete.update((column, v) for v in chunk)

    def prefetch_keys(self, conn: Connection, keys: Iterable[tuple[Any, ...]]) -> None:
        """Read the rows with these primary keys, and remember which do not exist. One
        ``IN`` list per key column (a row-value ``IN`` makes SQLite scan the table)."""
        wanted = sorted({k for k in keys if k not in self._rows})
        for at in range(0, len(wanted), IN_CHUNK):
            chunk = wanted[at : at + IN_CHUNK]
            where = [
                self.table.c[c].in_(sorted({k[n] for k in chunk})) for n, c in enumerate(self._pk)
            ]
            for row in conn.execute(sa.select(self.table).where(*where)).mappings():
                self._remember(dict(row), stored=True)
            for key in chunk:
                self._rows.setdefault(key, None)

    def get(self, conn: Connection, *key: Any) -> Row | None:
        if key in self._rows:
            return self._rows[key]
        if not any((c, v) in self._complete for c, v in zip(self._pk, key, strict=True)):
            where = [self.table.c[c] == v for c, v in zip(self._pk, key, strict=True)]
            found = conn.execute(sa.select(self.table).where(*where)).mappings().first()
            if found is not None:
                return self._remember(dict(found), stored=True)
        self._rows[key] = None
        return None

    def where(self, conn: Connection, column: str, value: Any) -> list[Row]:
        """Every row whose indexed ``column`` equals ``value``, stored or new."""
        if (column, value) not in self._complete:
            self.prefetch(conn, column, [value])
        keys = sorted(self._index[column][value])
        return [row for k in keys if (row := self._rows[k]) is not None]

    def absent(self, key: tuple[Any, ...]) -> None:
        """The caller knows no stored row has this key: ``get`` need not ask."""
        self._rows.setdefault(key, None)

    def held_where(self, column: str, value: Any) -> list[Row]:
        """The rows with indexed ``column`` equal to ``value`` that this pass holds; reads
        nothing."""
        keys = sorted(self._index[column].get(value, ()))
        return [row for k in keys if (row := self._rows[k]) is not None]

    def held(self) -> list[Row]:
        """Every row this pass has read or inserted."""
        return [row for row in self._rows.values() if row is not None]

    def pending(self) -> list[Row]:
        """Rows inserted in this pass and not yet written."""
        return [row for k in self._new if (row := self._rows[k]) is not None]

    def _remember(self, row: Row, stored: bool) -> Row:
        key = self.key(row)
        cached = self._rows.get(key)
        if cached is not None:
            return cached  # this pass may have changed it: the database copy is older
        for name in self._times if stored else ():
            value = row[name]
            if isinstance(value, datetime):
                row[name] = utc(value)  # SQLite hands back naive UTC
        self._rows[key] = row
        for column, index in self._index.items():
            index[row[column]].add(key)
        return row

    # -- writes ------------------------------------------------------------------------------

    def insert(self, conn: Connection, values: Row) -> bool:
        """Add a row unless one with its key exists; say whether it was added. Columns not
        given are NULL (a bulk insert needs every row to name the same columns)."""
        row = {**self._blank, **values}
        key = self.key(row)
        if self.get(conn, *key) is not None:
            return False
        self._rows.pop(key, None)  # it was known to be absent
        self._remember(row, stored=False)
        self._new[key] = None
        return True

    def update(self, row: Row, **values: Any) -> None:
        """Change a row this map holds; unchanged values write nothing."""
        changed = [name for name, value in values.items() if row[name] != value]
        if not changed:
            return
        for name in changed:
            row[name] = values[name]
        key = self.key(row)
        if key not in self._new:
            self._dirty.setdefault(key, set()).update(changed)

    def flush(self, conn: Connection) -> None:
        insert = _inserter(self.table)
        insert(conn, [tuple(row[c] for c in insert.names) for row in self.pending()])
        # Only the columns that changed: SQLite rewrites every index whose column is SET.
        by_columns: defaultdict[tuple[str, ...], list[tuple[Any, ...]]] = defaultdict(list)
        for key in sorted(self._dirty):
            row = self._rows[key]
            assert row is not None  # only held rows are updated
            columns = tuple(sorted(self._dirty[key]))
            by_columns[columns].append((*(row[c] for c in columns), *key))
        for columns, rows in by_columns.items():
            _updater(self.table, columns)(conn, rows)
        self._new.clear()
        self._dirty.clear()


@functools.cache
def _inserter(table: sa.Table) -> Bulk:
    return Bulk.insert(table, tuple(c.name for c in table.columns))


@functools.cache
def _updater(table: sa.Table, columns: tuple[str, ...]) -> Bulk:
    """These columns updated by primary key (rows.py's tables have natural keys)."""
    return Bulk.update(table, columns)
