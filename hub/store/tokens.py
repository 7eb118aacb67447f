"""API tokens in the database: create, list, revoke, and find the one a request presents.

A browser's session is a token too (kind "session"): the guard checks it like any other,
with the role of whoever signed in, until it expires or they sign out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.access import tokens
from hub.access.roles import Role
from hub.store.db import as_utc
from hub.store.tables import api_tokens

_BY_DIGEST = sa.select(
    api_tokens.c.id,
    api_tokens.c.name,
    api_tokens.c.role,
    api_tokens.c.expires_at,
    api_tokens.c.revoked_at,
    api_tokens.c.kind,
).where(api_tokens.c.token_sha256 == sa.bindparam("digest"))


@dataclass(frozen=True)
class Holder:
    """Who a live token belongs to, as a route's permission check needs it."""

    token_id: int
    name: str
    role: Role
    kind: str = "api"

    @property
    def actor(self) -> str:
        """Who acted, as the audit trail names them: a session is named for who signed in
        (``user:ana``, or ``token:<name>`` when they signed in with a token)."""
        return self.name if self.kind == "session" else f"token:{self.name}"


def create(
    conn: Connection, name: str, role: Role, now: datetime, expires_at: datetime | None
) -> tuple[int, str]:
    """A new token for ``name``: its id, and the token itself, which is never stored."""
    token = tokens.new_token()
    inserted = conn.execute(
        api_tokens.insert().values(
            name=name,
            role=role.value,
            token_sha256=tokens.digest(token),
            created_at=now,
            expires_at=expires_at,
        )
    )
    assert inserted.inserted_primary_key is not None
    return int(inserted.inserted_primary_key[0]), token


def start_session(
    conn: Connection, actor: str, role: Role, parent_id: int | None, now: datetime, ttl: timedelta
) -> str:
    """A browser's session for ``actor``: the token its cookie carries."""
    token = tokens.new_token()
    conn.execute(
        api_tokens.insert().values(
            name=actor,
            role=role.value,
            token_sha256=tokens.digest(token),
            created_at=now,
            expires_at=now + ttl,
            kind="session",
            parent_id=parent_id,
        )
    )
    return token


def end_session(conn: Connection, token: str, now: datetime) -> None:
    c = api_tokens.c
    conn.execute(
        api_tokens.update()
        .where(c.token_sha256 == tokens.digest(token), c.kind == "session", c.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def end_sessions_of(conn: Connection, actor: str, now: datetime) -> int:
    """End every live session of ``actor`` (``user:ana``); how many."""
    c = api_tokens.c
    live = sa.and_(c.kind == "session", c.name == actor, c.revoked_at.is_(None))
    return int(conn.execute(api_tokens.update().where(live).values(revoked_at=now)).rowcount)


def end_session_by_id(conn: Connection, session_id: int, now: datetime) -> bool:
    """End one live session; False when no live session has that id."""
    c = api_tokens.c
    live = sa.and_(c.id == session_id, c.kind == "session", c.revoked_at.is_(None))
    return bool(conn.execute(api_tokens.update().where(live).values(revoked_at=now)).rowcount)


def sessions(conn: Connection, now: datetime) -> list[dict[str, object]]:
    """Live sessions: signed in, not signed out, not expired."""
    c = api_tokens.c
    rows = conn.execute(
        sa.select(c.id, c.name, c.role, c.created_at, c.expires_at)
        .where(c.kind == "session", c.revoked_at.is_(None), c.expires_at > now)
        .order_by(c.id)
    )
    return [dict(row._mapping) for row in rows]


def listing(conn: Connection) -> list[dict[str, object]]:
    c = api_tokens.c
    rows = conn.execute(
        sa.select(c.id, c.name, c.role, c.created_at, c.expires_at, c.revoked_at)
        .where(c.kind == "api")
        .order_by(c.id)
    )
    return [dict(row._mapping) for row in rows]


def revoke(conn: Connection, token_id: int, now: datetime) -> bool:
    """Revoke a token and the sessions signed in with it; False when no live token has that
    id."""
    return _revoke(conn, api_tokens.c.id == token_id, now) == 1


def revoke_held(conn: Connection, name: str, role: Role, now: datetime) -> int:
    """Revoke every live token of ``role`` held by ``name``, and their sessions; how many."""
    c = api_tokens.c
    return _revoke(conn, sa.and_(c.name == name, c.role == role.value), now)


def _revoke(conn: Connection, which: Any, now: datetime) -> int:
    """Revoke the live API tokens ``which`` picks, and every session signed in with them.
    Writes only (no read first): on SQLite a transaction that reads and then writes fails
    at once if another writer committed in between."""
    c = api_tokens.c
    live = c.revoked_at.is_(None)
    chosen = sa.and_(which, c.kind == "api")
    done = conn.execute(api_tokens.update().where(chosen, live).values(revoked_at=now))
    parents = sa.select(c.id).where(chosen).scalar_subquery()
    conn.execute(api_tokens.update().where(c.parent_id.in_(parents), live).values(revoked_at=now))
    return done.rowcount


def holder(conn: Connection, token: str, now: datetime) -> Holder | None:
    """The holder of ``token`` if it is ours, unexpired and not revoked."""
    if len(token) > tokens.MAX_TOKEN_CHARS or not token.startswith(tokens.PREFIX):
        return None
    row = conn.execute(_BY_DIGEST, {"digest": tokens.digest(token)}).first()
    if row is None or row.revoked_at is not None:
        return None
    if row.expires_at is not None and as_utc(row.expires_at) <= now:
        return None
    return Holder(row.id, row.name, Role(row.role), row.kind)
