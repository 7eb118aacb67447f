"""API tokens in the database: create, list, revoke, and find the one a request presents."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

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
).where(api_tokens.c.token_sha256 == sa.bindparam("digest"))


@dataclass(frozen=True)
class Holder:
    """Who a live token belongs to, as a route's permission check needs it."""

    token_id: int
    name: str
    role: Role


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


def listing(conn: Connection) -> list[dict[str, object]]:
    c = api_tokens.c
    rows = conn.execute(
        sa.select(c.id, c.name, c.role, c.created_at, c.expires_at, c.revoked_at).order_by(c.id)
    )
    return [dict(row._mapping) for row in rows]


def revoke(conn: Connection, token_id: int, now: datetime) -> bool:
    """Revoke a token; False when no live token has that id."""
    c = api_tokens.c
    done = conn.execute(
        api_tokens.update().where(c.id == token_id, c.revoked_at.is_(None)).values(revoked_at=now)
    )
    return done.rowcount == 1


def holder(conn: Connection, token: str, now: datetime) -> Holder | None:
    """The holder of ``token`` if it is ours, unexpired and not revoked."""
    if len(token) > tokens.MAX_TOKEN_CHARS or not token.startswith(tokens.PREFIX):
        return None
    row = conn.execute(_BY_DIGEST, {"digest": tokens.digest(token)}).first()
    if row is None or row.revoked_at is not None:
        return None
    if row.expires_at is not None and as_utc(row.expires_at) <= now:
        return None
    return Holder(row.id, row.name, Role(row.role))
