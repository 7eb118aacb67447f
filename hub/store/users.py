"""People who sign in with a password: made with `scantrail-hub users create`."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.access import passwords
from hub.access.roles import Role
from hub.errors import ConfigError
from hub.store.tables import users

USERNAME_CHARS = 64


def create(conn: Connection, username: str, role: Role, password: str, now: datetime) -> None:
    """Raises ConfigError naming the problem: a taken name or a weak password."""
    username = username.strip()
    if not username or len(username) > USERNAME_CHARS or not username.isprintable():
        raise ConfigError(f"a username is 1 to {USERNAME_CHARS} printable characters")
    if (problem := passwords.problem(password)) is not None:
        raise ConfigError(problem)
    taken = conn.execute(sa.select(users.c.id).where(users.c.username == username)).first()
    if taken is not None:
        raise ConfigError(f"user {username!r} exists already")
    conn.execute(
        users.insert().values(
            username=username,
            role=role.value,
            password_argon2=passwords.hash_password(password),
            created_at=now,
        )
    )


def authenticate(conn: Connection, username: str, password: str) -> Role | None:
    """The role of ``username`` when ``password`` is theirs; None otherwise, in about the
    same time whether or not the name exists."""
    row = conn.execute(
        sa.select(users.c.role, users.c.password_argon2).where(users.c.username == username)
    ).first()
    if not passwords.verify(row.password_argon2 if row else None, password):
        return None
    assert row is not None
    return Role(row.role)


def listing(conn: Connection) -> list[dict[str, object]]:
    c = users.c
    rows = conn.execute(sa.select(c.username, c.role, c.created_at).order_by(c.username))
    return [dict(row._mapping) for row in rows]
