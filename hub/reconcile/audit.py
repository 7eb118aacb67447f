"""The append-only audit trail: one entry per record change, each carrying the hash of the
one before it, so editing or deleting any entry breaks every hash after it.

hash = sha256(prev_hash + "\\n" + canonical JSON of the entry's fields). The first entry's
prev_hash is 64 zeros. Entries are appended in the order the hub applied the changes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from hub.reconcile.rules import Scan, utc
from hub.store.db import Bulk
from hub.store.records import audit_log

GENESIS = "0" * 64
_INSERT = Bulk.insert(audit_log, tuple(c.name for c in audit_log.columns if c.name != "id"))


FIELDS = ("actor", "action", "entity", "entity_key", "cause", "detail")
# Built once: json.dumps with options builds a new encoder on every call.
_ENCODE_CANONICAL = json.JSONEncoder(separators=(",", ":")).encode
_ENCODE_DETAIL = json.JSONEncoder(sort_keys=True, default=str).encode


def _canonical(entry: dict[str, Any]) -> str:
    """A JSON array of the fields in a fixed order: at (UTC ISO 8601, microseconds), then
    FIELDS."""
    at = utc(entry["at"]).isoformat(timespec="microseconds")
    return _ENCODE_CANONICAL([at, *(entry[k] for k in FIELDS)])


def entry_hash(prev_hash: str, entry: dict[str, Any]) -> str:
    return hashlib.sha256(f"{prev_hash}\n{_canonical(entry)}".encode()).hexdigest()


class Trail:
    """Collects one transaction's entries and appends them, chained, at ``flush``."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._entries: list[dict[str, Any]] = []
        self._now = datetime.now(UTC)  # one transaction, one time

    def add(self, scan: Scan | None, action: str, entity: str, key: str, change: Any) -> None:
        # A change is a flat dataclass: its fields, not a deep copy (asdict), are the detail.
        detail = vars(change) if dataclasses.is_dataclass(change) else change
        self._entries.append(
            {
                "at": self._now,
                "actor": scan.operator if scan else "rebuild",
                "action": action,
                "entity": entity,
                "entity_key": key[:512],
                "cause": scan.key if scan else None,
                "detail": _ENCODE_DETAIL(detail),
            }
        )

    def flush(self) -> None:
        if not self._entries:
            return
        # FOR UPDATE on the newest entry serialises hubs sharing one PostgreSQL database.
        prev = (
            self._conn.execute(
                sa.select(audit_log.c.hash)
                .order_by(audit_log.c.id.desc())
                .limit(1)
                .with_for_update()
            ).scalar()
            or GENESIS
        )
        rows = []
        for entry in self._entries:
            entry["prev_hash"] = prev
            entry["hash"] = prev = entry_hash(prev, entry)
            rows.append(tuple(entry[c] for c in _INSERT.names))
        _INSERT(self._conn, rows)
        self._entries = []


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
