"""Keys every hub on one database shares: made once by whichever hub needs one first."""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from hub.store.db import insert_ignore
from hub.store.tables import shared_keys

KEY_BYTES = 32


def shared_key(engine: Engine, name: str) -> bytes:
    """The key named ``name``; made now if no hub has made it (a race keeps the first)."""
    with engine.begin() as conn:
        insert_ignore(conn, shared_keys, [{"name": name, "value": secrets.token_bytes(KEY_BYTES)}])
        return bytes(
            conn.execute(
                sa.select(shared_keys.c.value).where(shared_keys.c.name == name)
            ).scalar_one()
        )
