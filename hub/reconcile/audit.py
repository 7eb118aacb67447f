"""The projector's side of the audit trail (hub/store/audit_chain.py keeps the chain):
one entry per record change, collected through a pass and appended at its end."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Connection

from hub.domain.facts import Scan
from hub.store.audit_chain import append, encode_detail


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
                "detail": encode_detail(detail),
            }
        )

    def flush(self) -> None:
        # The pass has written records already: on SQLite it holds the write lock.
        append(self._conn, self._entries)
        self._entries = []
