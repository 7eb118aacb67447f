"""The append-only audit trail: one entry per record change, each carrying the hash of the
one before it, so editing or deleting any entry breaks every hash after it.

hash = sha256(prev_hash + "\\n" + canonical JSON of the entry's fields). The first entry's
prev_hash is 64 zeros. Entries are appended in the order the hub applied the changes.

Two writers append: the projector (hub/reconcile/audit.py) and the API's writes, in
different threads or hub processes. On PostgreSQL ``append`` first takes a
transaction-level advisory lock, then reads the newest entry: a writer that waited for
the lock reads what the one before it committed. (``SELECT … FOR UPDATE`` of the newest
row does not serialise them: a writer that waited re-reads that same row, now no longer
the newest, and the chain would fork.) On SQLite the caller must already hold the write
lock (it has written in this transaction), so no other writer can append between reading
the newest hash and inserting after it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from hub.store.db import Bulk, as_utc
from hub.store.records import audit_log

GENESIS = "0" * 64
AUDIT_LOCK = 0x7363616E61756474  # "scanaudt": any fixed 64-bit number names the lock
FIELDS = ("actor", "action", "entity", "entity_key", "cause", "detail")
_INSERT = Bulk.insert(audit_log, tuple(c.name for c in audit_log.columns if c.name != "id"))
# Built once: json.dumps with options builds a new encoder on every call.
_ENCODE_CANONICAL = json.JSONEncoder(separators=(",", ":")).encode
encode_detail = json.JSONEncoder(sort_keys=True, default=str).encode


def _canonical(entry: dict[str, Any]) -> str:
    """A JSON array of the fields in a fixed order: at (UTC ISO 8601, microseconds), then
    FIELDS."""
    at = as_utc(entry["at"]).isoformat(timespec="microseconds")
    return _ENCODE_CANONICAL([at, *(entry[k] for k in FIELDS)])


def entry_hash(prev_hash: str, entry: dict[str, Any]) -> str:
    return hashlib.sha256(f"{prev_hash}\n{_canonical(entry)}".encode()).hexdigest()


def append(conn: Connection, entries: list[dict[str, Any]]) -> None:
    """Chain ``entries`` (dicts of ``at`` and FIELDS, ``detail`` already encoded) after the
    newest entry and insert them."""
    if not entries:
        return
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(AUDIT_LOCK)))
    else:
        # Take SQLite's write lock (waiting its busy timeout) before reading the chain's
        # head: a transaction that reads and then writes fails at once, without waiting, if
        # another writer committed in between. A write that matches no row still takes it.
        # (A sign-in's audit entry is the only write of its transaction.)
        conn.execute(audit_log.update().where(sa.false()).values(id=audit_log.c.id))
    prev = (
        conn.execute(sa.select(audit_log.c.hash).order_by(audit_log.c.id.desc()).limit(1)).scalar()
        or GENESIS
    )
    rows = []
    for entry in entries:
        entry["prev_hash"] = prev
        entry["hash"] = prev = entry_hash(prev, entry)
        rows.append(tuple(entry[c] for c in _INSERT.names))
    _INSERT(conn, rows)


@dataclass(frozen=True)
class Verdict:
    entries: int
    first_bad_id: int | None
    reason: str | None

    @property
    def ok(self) -> bool:
        return self.first_bad_id is None


def verify(engine: Engine, chunk: int = 10_000) -> Verdict:
    """Walk the chain from the first entry; report the first entry that does not fit."""
    prev, count, last_id = GENESIS, 0, 0
    with engine.connect() as conn:
        while True:
            rows = (
                conn.execute(
                    sa.select(audit_log)
                    .where(audit_log.c.id > last_id)
                    .order_by(audit_log.c.id)
                    .limit(chunk)
                )
                .mappings()
                .all()
            )
            if not rows:
                return Verdict(count, None, None)
            for row in rows:
                if row["prev_hash"] != prev:
                    return Verdict(count, row["id"], "prev_hash does not match the entry before")
                if entry_hash(prev, dict(row)) != row["hash"]:
                    return Verdict(count, row["id"], "hash does not match the entry's content")
                prev, count, last_id = row["hash"], count + 1, row["id"]
