"""The engine, its pragmas, migrations, and the one dialect-specific write helper."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
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


def create_engine(url: str) -> Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"check_same_thread": False})
        _sqlite_pragmas(engine)
        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(engine: Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def on_connect(dbapi_conn: Any, record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, issue BEGIN, so SAVEPOINTs work (SQLAlchemy docs).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")  # an acked scan must survive power loss
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN")


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def insert_ignore(conn: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """INSERT … ON CONFLICT DO NOTHING, on SQLite and PostgreSQL alike."""
    if rows:
        conn.execute(_insert(conn, table).on_conflict_do_nothing(), rows)


def upsert(conn: Connection, table: sa.Table, keys: list[str], values: dict[str, Any]) -> None:
    upsert_many(conn, table, keys, [values])


def upsert_many(
    conn: Connection, table: sa.Table, keys: list[str], rows: list[dict[str, Any]]
) -> None:
    """INSERT … ON CONFLICT (keys) DO UPDATE, one executemany; every row names the same
    columns."""
    if not rows:
        return
    stmt = _insert(conn, table)
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


def _insert(conn: Connection, table: sa.Table) -> Any:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
