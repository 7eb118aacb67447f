"""Valid contract messages for tests that need to hand-craft payloads."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from protocol.messages import EventBatch, ScanEvent


def scan_event(agent_id: str = "pi-1", seq: int = 1, **overrides: Any) -> ScanEvent:
    values: dict[str, Any] = {
        "event_id": uuid.uuid4(),
        "agent_id": agent_id,
        "incarnation": "inc1",
        "seq": seq,
        "boot_id": "boot-1",
        "monotonic_ns": 1000 + seq,
        "scanned_at": datetime(2026, 11, 21, 8, 0, tzinfo=UTC),
        "clock_synced": True,
        "scanner_id": "usb-1",
        "raw": f"INS-{seq:04d}",
        **overrides,
    }
    return ScanEvent.model_validate(values)


def batch(agent_id: str = "pi-1", seqs: range = range(1, 4), **overrides: Any) -> EventBatch:
    events = tuple(scan_event(agent_id, s, **overrides) for s in seqs)
    return EventBatch(agent_id=agent_id, incarnation=events[0].incarnation, events=events)
