"""The engine, its pragmas, migrations, and the one dialect-specific write helper."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from hub.errors import BadData, DatabaseUnavailable

MIGRATIONS = Path(__file__).parent / "migrations"


def as_utc(at: datetime) -> datetime:
    """SQLite hands timestamps back naive; they were stored as UTC."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def utc_values(row: Mapping[Any, Any]) -> dict[str, Any]:
    """A row's values with every timestamp in UTC, as SQLite and PostgreSQL alike give."""
    return {k: as_utc(v) if isinstance(v, datetime) else v for k, v in row.items()}


def create_engine(url: str) -> Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        _owner_only(sa.engine.make_url(url).database)
        engine = sa.create_engine(url, connect_args={"check_same_thread": False})
        _sqlite_pragmas(engine)
        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def _owner_only(database: str | None) -> None:
    """A new SQLite file is made readable by its owner only: it holds the scan log, people's
    password hashes and the audit trail. SQLite gives its WAL and shared-memory files the
    main file's mode. An existing file keeps the mode it has (an operator's choice)."""
    if database and database != ":memory:" and not database.startswith("file:"):
        path = Path(database)
        if not path.exists() and path.parent.is_dir():
            path.touch(mode=0o600)


def _sqlite_pragmas(engine: Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def on_connect(dbapi_conn: Any, record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, issue BEGIN, so SAVEPOINTs work (SQLAlchemy docs).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")  # an acked scan must survive power loss
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA wal_autocheckpoint=10000")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN")


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to the newest migration (or to ``revision``)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def insert_ignore(conn: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """INSERT … ON CONFLICT DO NOTHING, on SQLite and PostgreSQL alike."""
    if rows:
        conn.execute(insert_into(conn, table).on_conflict_do_nothing(), rows)


class Bulk:
    """One statement for many rows, compiled once per dialect.

    - SQLite (in the hub's process): the DB-API's own ``executemany``.
    - PostgreSQL: one statement whatever the number of rows, each column sent as one array
      and spread by ``unnest`` (``INSERT … SELECT * FROM unnest(…)``, ``UPDATE … FROM
      unnest(…)``): one round trip, one plan. psycopg's ``executemany`` sends a statement
      per row through its pipeline, and its pipeline loop held the GIL in about a fifth
      of the hub's GIL-held samples at 200 stations (py-spy --gil), time acks waited. The
      arrays go in binary (``%b``): as text, each value is escaped by a regular expression
      in Python: 83% of the writer's GIL-held samples in a drain.

    Why not ``conn.execute(stmt, rows)``: SQLAlchemy then spends about 30 µs a row on
    generic parameter handling (measured: 0.8 s of 2.6 s ingesting 20,000 scans, and most
    of the projector's writes), and every scan passes here several times. Values still go
    through each column type's own bind processor, so what is stored reads back exactly as
    if SQLAlchemy had written it.

    Rows are tuples of the values of ``names``, in that order."""

    def __init__(
        self, stmt: Any, names: tuple[str, ...], columns: tuple[str, ...], table: sa.Table
    ) -> None:
        self._stmt = stmt
        self.names = names
        self._columns = columns  # which table column each bind name stores or matches
        self._table = table
        self._compiled: dict[str, tuple[str, list[Any], list[int] | None]] = {}

    @classmethod
    def insert(cls, table: sa.Table, columns: tuple[str, ...], ignore: bool = False) -> Bulk:
        """INSERT of ``columns``; with ``ignore``, ON CONFLICT DO NOTHING."""
        return cls(("insert", ignore), columns, columns, table)

    @classmethod
    def update(cls, table: sa.Table, columns: tuple[str, ...]) -> Bulk:
        """UPDATE ``columns`` of the row with the primary key given after them."""
        pk = tuple(c.name for c in table.primary_key.columns)
        return cls(("update", False), (*columns, *(f"pk_{c}" for c in pk)), (*columns, *pk), table)

    def __call__(self, conn: Connection, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        dialect = conn.dialect
        if dialect.name not in self._compiled:
            self._compiled[dialect.name] = self._compile(conn)
        sql, processors, order = self._compiled[dialect.name]
        if any(processors):
            rows = [
                tuple(p(v) if p else v for p, v in zip(processors, row, strict=True))
                for row in rows
            ]
        params: Any
        if dialect.name == "postgresql":  # one array per column
            conn.exec_driver_sql(sql, tuple(list(column) for column in zip(*rows, strict=True)))
            return
        if order is None:
            params = [dict(zip(self.names, row, strict=True)) for row in rows]
        else:
            params = (
                rows
                if order == list(range(len(order)))
                else [tuple(row[i] for i in order) for row in rows]
            )
        conn.exec_driver_sql(sql, params)

    def _compile(self, conn: Connection) -> tuple[str, list[Any], list[int] | None]:
        kind, ignore = self._stmt
        table, dialect = self._table, conn.dialect
        if dialect.name == "postgresql":
            return self._unnest(dialect, kind, ignore), self._processors(dialect), None
        data = [n for n in self.names if not n.startswith("pk_")]
        if kind == "insert":
            stmt = insert_into(conn, table).on_conflict_do_nothing() if ignore else table.insert()
        else:
            pk = [c.name for c in table.primary_key.columns]
            stmt = table.update().where(*(table.c[c] == sa.bindparam(f"pk_{c}") for c in pk))
        compiled = stmt.compile(dialect=dialect, column_keys=data)
        position = compiled.positiontup
        order = None if position is None else [self.names.index(n) for n in position]
        return str(compiled), self._processors(dialect), order

    def _processors(self, dialect: Any) -> list[Any]:
        return [self._table.c[c].type.bind_processor(dialect) for c in self._columns]

    def _unnest(self, dialect: Any, kind: str, ignore: bool) -> str:
        """The PostgreSQL statement: one array parameter per value of ``names``."""
        quote = dialect.identifier_preparer.quote
        table = dialect.identifier_preparer.format_table(self._table)
        arrays = ", ".join(f"%b::{self._array_type(c, dialect)}" for c in self._columns)
        if kind == "insert":
            columns = ", ".join(quote(c) for c in self._columns)
            conflict = " ON CONFLICT DO NOTHING" if ignore else ""
            return f"INSERT INTO {table} ({columns}) SELECT * FROM unnest({arrays}){conflict}"
        data = len(self._columns) - len(self._table.primary_key.columns)
        names = ", ".join(f"v{i}" for i in range(len(self._columns)))
        sets = ", ".join(f"{quote(c)} = v.v{i}" for i, c in enumerate(self._columns[:data]))
        match = " AND ".join(
            f"t.{quote(c)} = v.v{data + i}" for i, c in enumerate(self._columns[data:])
        )
        return f"UPDATE {table} AS t SET {sets} FROM unnest({arrays}) AS v({names}) WHERE {match}"

    def _array_type(self, column: str, dialect: Any) -> str:
        # VARCHAR(n) as text: an explicit cast to varchar(n) would truncate a value too long
        # silently; stored into the column, it is refused (BadData), as one row at a time.
        compiled = self._table.c[column].type.compile(dialect=dialect)
        return "text[]" if compiled.startswith(("VARCHAR", "CHAR", "TEXT")) else f"{compiled}[]"


def upsert(conn: Connection, table: sa.Table, keys: list[str], values: dict[str, Any]) -> None:
    upsert_many(conn, table, keys, [values])


def upsert_many(
    conn: Connection, table: sa.Table, keys: list[str], rows: list[dict[str, Any]]
) -> None:
    """INSERT … ON CONFLICT (keys) DO UPDATE, one executemany; every row names the same
    columns."""
    if not rows:
        return
    stmt = insert_into(conn, table)
    updates = {k: stmt.excluded[k] for k in rows[0] if k not in keys}
    conn.execute(stmt.on_conflict_do_update(index_elements=keys, set_=updates), rows)


# SQLSTATE classes of PostgreSQL errors that one value or row causes (22 data exception,
# 23 integrity constraint violation); anything else means the database is not usable now.
_DATA_SQLSTATES = ("22", "23")


@contextmanager
def mapped() -> Iterator[None]:
    """Map SQLAlchemy's errors into the hub's tree (httpx's ``map_httpcore_exceptions``).

    ``BadData``: the values of this statement were refused; setting them aside lets the line
    go on. ``DatabaseUnavailable``: everything else (connection refused or lost, disk full,
    read-only, locked, a server shutting down); only waiting helps, and nothing is acked."""
    try:
        yield
    except (sa_exc.DataError, sa_exc.IntegrityError) as exc:
        raise BadData(_first_line(exc)) from exc
    except sa_exc.DBAPIError as exc:
        state = getattr(exc.orig, "sqlstate", None) or ""
        if state.startswith(_DATA_SQLSTATES) and not exc.connection_invalidated:
            raise BadData(_first_line(exc)) from exc
        raise DatabaseUnavailable(_first_line(exc)) from exc
    except sa_exc.SQLAlchemyError as exc:
        raise DatabaseUnavailable(_first_line(exc)) from exc


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return f"{type(orig).__name__}: {str(orig).strip().splitlines()[0] if str(orig) else ''}"[:500]


def storable(text: str) -> str:
    """Text as both databases store it: PostgreSQL refuses NUL in a text column (SQLite
    keeps it), so it is written out as ``\\x00``, as undecodable bytes are. For what a
    sender controls and the hub keeps to show (a dead letter's payload, an alert's detail)."""
    return text.replace("\x00", "\\x00")


def insert_into(conn: Connection, table: sa.Table) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
