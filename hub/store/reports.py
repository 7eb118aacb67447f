"""Reports over a period, read from the records: which trays were closed short, and what
they were missing. Periods are UTC days or ISO weeks (the hub has no site time zone yet)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.domain.statuses import ChecklistStatus
from hub.store.db import as_utc
from hub.store.records import tray_checklists

Period = Literal["day", "week"]


def period_of(at: datetime, period: Period) -> str:
    """``2026-11-20`` for a day; ``2026-W47`` for an ISO week."""
    at = as_utc(at)
    if period == "day":
        return at.date().isoformat()
    year, week, _ = at.isocalendar()
    return f"{year}-W{week:02d}"


def missing_items(
    conn: Connection, since: datetime, until: datetime, period: Period
) -> list[dict[str, Any]]:
    """Per period, oldest first: each tray closed short in it, how often, and the items it
    was missing summed over those closes."""
    c = tray_checklists.c
    rows = conn.execute(
        sa.select(c.tray, c.completed_at, c.missing)
        .where(c.status == ChecklistStatus.SHORT, c.completed_at >= since, c.completed_at < until)
        .order_by(c.completed_at)
    ).all()
    periods: dict[str, dict[str, tuple[int, Counter[str]]]] = {}
    for row in rows:
        trays = periods.setdefault(period_of(row.completed_at, period), {})
        times, missing = trays.get(row.tray, (0, Counter()))
        missing.update({k: int(v) for k, v in json.loads(row.missing).items()})
        trays[row.tray] = (times + 1, missing)
    return [
        {
            "period": name,
            "trays_short": sum(times for times, _ in trays.values()),
            "trays": [
                {"tray": tray, "times_short": times, "missing": dict(sorted(missing.items()))}
                for tray, (times, missing) in sorted(trays.items())
            ],
        }
        for name, trays in periods.items()
    ]
