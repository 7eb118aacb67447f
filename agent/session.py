"""What a station remembers between scans: mode, operator, the open session, an armed command.

A plain value. The intake thread persists it in the outbox in the same transaction as the
scan that changed it, so an open session survives ``kill -9``: the small part as JSON in
``meta``, the session's items one row each (a load can hold hundreds; rewriting them all
on every scan would make each scan slower than the last).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Instant:
    """When a scan was taken, as the agent's clocks saw it (agent/clock.py reads them)."""

    wall: datetime
    monotonic_ns: int
    boot_id: str
    synced: bool


@dataclass(frozen=True)
class Session:
    """An open session. Its id is the event id of the scan that opened it (DESIGN.md §5)."""

    id: str
    kind: str  # load | tray | case | move | patient
    key: str  # what opened it: sterilizer, tray, case, first asset, patient
    items: frozenset[str] = field(default_factory=frozenset)
    phase: str | None = None  # point_of_use: "return" after CMD-RETURN

    def with_item(self, key: str) -> Session:
        return replace(self, items=self.items | {key})


@dataclass(frozen=True)
class StationState:
    mode: str
    operator: str | None = None
    session: Session | None = None
    armed: str | None = None  # a one-shot command waiting for its subject (e.g. "bi:<key>")
    # Where the last activity happened, for idle logout. Monotonic time means nothing
    # across a reboot, so the boot id is kept with it.
    boot_id: str = ""
    active_ns: int = 0

    def to_json(self) -> str:
        """Everything but the session's items (saved as rows, see ``from_json``)."""
        session = None
        if self.session is not None:
            session = {
                "id": self.session.id,
                "kind": self.session.kind,
                "key": self.session.key,
                "phase": self.session.phase,
            }
        data: dict[str, Any] = {
            "mode": self.mode,
            "operator": self.operator,
            "session": session,
            "armed": self.armed,
            "boot_id": self.boot_id,
            "active_ns": self.active_ns,
        }
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str, items: frozenset[str] = frozenset()) -> StationState:
        data = json.loads(text)
        raw = data.get("session")
        session = None
        if raw is not None:
            session = Session(
                id=raw["id"],
                kind=raw["kind"],
                key=raw["key"],
                items=items,
                phase=raw.get("phase"),
            )
        return cls(
            mode=data["mode"],
            operator=data.get("operator"),
            session=session,
            armed=data.get("armed"),
            boot_id=data.get("boot_id", ""),
            active_ns=int(data.get("active_ns", 0)),
        )
