"""People who sign in with a password: made with `scantrail-hub users create`."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.access import passwords
from hub.access.roles import Role
from hub.errors import ConfigError
from hub.store import tokens
from hub.store.db import insert_into
from hub.store.tables import users

USERNAME_CHARS = 64


def create(conn: Connection, username: str, role: Role, password: str, now: datetime) -> None:
    """Raises ConfigError naming the problem: a taken name or a weak password."""
    username = username.strip()
    if not username or len(username) > USERNAME_CHARS or not username.isprintable():
        raise ConfigError(f"a username is 1 to {USERNAME_CHARS} printable characters")
    if (problem := passwords.problem(password)) is not None:
        raise ConfigError(problem)
    row = {
        "username": username,
        "role": role.value,
        "password_argon2": passwords.hash_password(password),
        "created_at": now,
    }
    # The write comes first, with no read before it: on SQLite a transaction that reads and
    # then writes fails at once if a running hub committed in between (no busy wait).
    made = conn.execute(
        insert_into(conn, users).on_conflict_do_nothing().returning(users.c.id), row
    ).first()
    if made is None:
        raise ConfigError(f"user {username!r} exists already")


def authenticate(conn: Connection, username: str, password: str) -> Role | None:
    """The role of ``username`` when ``password`` is theirs and they are not disabled;
    None otherwise, in about the same time whether or not the name exists."""
    c = users.c
    row = conn.execute(
        sa.select(c.role, c.password_argon2, c.disabled_at).where(c.username == username)
    ).first()
    if not passwords.verify(row.password_argon2 if row else None, password):
        return None
    assert row is not None
    return None if row.disabled_at is not None else Role(row.role)


def listing(conn: Connection) -> list[dict[str, object]]:
    c = users.c
    rows = conn.execute(
        sa.select(c.username, c.role, c.created_at, c.disabled_at).order_by(c.username)
    )
    return [dict(row._mapping) for row in rows]


# Taking access away. Each writes only (no read first: on SQLite a transaction that reads
# and then writes fails at once if the ingest writer committed in between), and each ends
# the person's sessions, so a browser signed in as them opens nothing more, and its live
# streams end at their next poll (hub/web/stream.py). Raises ConfigError for no such user.


def disable(conn: Connection, username: str, now: datetime) -> None:
    _change(conn, username, {"disabled_at": now})
    tokens.end_sessions_of(conn, actor(username), now)


def enable(conn: Connection, username: str) -> None:
    _change(conn, username, {"disabled_at": None})


def reset_password(conn: Connection, username: str, password: str, now: datetime) -> None:
    if (problem := passwords.problem(password)) is not None:
        raise ConfigError(problem)
    _change(conn, username, {"password_argon2": passwords.hash_password(password)})
    tokens.end_sessions_of(conn, actor(username), now)


def delete(conn: Connection, username: str, now: datetime) -> None:
    if conn.execute(users.delete().where(users.c.username == username)).rowcount != 1:
        raise ConfigError(f"no user {username!r}")
    tokens.end_sessions_of(conn, actor(username), now)


def actor(username: str) -> str:
    """How the audit trail and the sessions name a person who signed in with a password."""
    return f"user:{username}"


def _change(conn: Connection, username: str, values: dict[str, object]) -> None:
    done = conn.execute(users.update().where(users.c.username == username).values(**values))
    if done.rowcount != 1:
        raise ConfigError(f"no user {username!r}")
