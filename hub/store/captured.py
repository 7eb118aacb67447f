"""A load's cycle as its sterilizer recorded it: the judged capture and its readings
(hub/reconcile/capture.py writes them), for the load's page, chart and API."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.store.queries import plain_row
from hub.store.records import cycle_captures, cycle_readings


def capture(conn: Connection, cycle_id: str | None) -> dict[str, Any] | None:
    """The capture, its reasons as a list; None when the load has none."""
    if cycle_id is None:
        return None
    row = conn.execute(
        sa.select(cycle_captures).where(cycle_captures.c.cycle_id == cycle_id)
    ).first()
    if row is None:
        return None
    found = plain_row(row._mapping)
    found["reasons"] = json.loads(found["reasons"] or "[]")
    return found


def readings(conn: Connection, cycle_id: str) -> list[dict[str, Any]]:
    """Every line of the cycle's record in the order it was read."""
    r = cycle_readings.c
    rows = conn.execute(
        sa.select(cycle_readings).where(r.cycle_id == cycle_id).order_by(r.event_key)
    )
    return [plain_row(row._mapping) for row in rows]
