"""The department report for leads, by day or week in the site's time zone: trays
assembled, loads per sterilizer, BI results, turnaround from end of use to sterile again,
trays not ready at 07:00 for the day's cases, missing items, and blocked and unsafe uses.

Read from the records and the alerts; each figure says where it comes from (docs/screens.md).
"""

from __future__ import annotations

import json
import statistics
from collections import Counter, defaultdict
from datetime import datetime, time, timedelta, tzinfo
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.domain.rules import UNRELEASED
from hub.domain.statuses import AlertKind, ChecklistStatus, CycleStatus
from hub.store.db import as_utc
from hub.store.records import (
    bi_results,
    cycles,
    ref_cases,
    session_items,
    sessions,
    tray_checklists,
    usage_logs,
)
from hub.store.tables import alerts

Period = Literal["day", "week"]


def period_of(at: datetime, period: Period, zone: tzinfo) -> str:
    """``2026-12-06`` for a day, ``2026-W49`` for an ISO week, in the site's zone."""
    local = as_utc(at).astimezone(zone)
    if period == "day":
        return local.date().isoformat()
    year, week, _ = local.isocalendar()
    return f"{year}-W{week:02d}"


def _empty() -> dict[str, Any]:
    return {
        "trays_assembled": 0,
        "trays_short": 0,
        "missing": Counter(),
        "loads": Counter(),
        "loads_failed": 0,
        "bi_pass": 0,
        "bi_fail": 0,
        "turnaround_s": [],
        "not_ready": 0,
        "not_ready_trays": Counter(),
        "blocked_uses": 0,
        "unsafe_uses": 0,
    }


def report(
    conn: Connection, since: datetime, until: datetime, period: Period, zone: tzinfo
) -> list[dict[str, Any]]:
    """Per period, newest first."""
    periods: dict[str, dict[str, Any]] = defaultdict(_empty)

    def at(when: datetime) -> dict[str, Any]:
        return periods[period_of(when, period, zone)]

    ch = tray_checklists.c
    for status, completed_at, missing in conn.execute(
        sa.select(ch.status, ch.completed_at, ch.missing).where(
            ch.status.in_((ChecklistStatus.COMPLETE, ChecklistStatus.SHORT)),
            ch.completed_at >= since,
            ch.completed_at < until,
        )
    ):
        row = at(completed_at)
        row["trays_assembled"] += 1
        if status == ChecklistStatus.SHORT:
            row["trays_short"] += 1
            row["missing"].update({k: int(v) for k, v in json.loads(missing).items()})
    c = cycles.c
    for sterilizer, started_at, status in conn.execute(
        sa.select(c.sterilizer, c.started_at, c.status).where(
            c.started_at >= since, c.started_at < until, c.status != CycleStatus.CANCELLED
        )
    ):
        row = at(started_at)
        row["loads"][sterilizer] += 1
        row["loads_failed"] += status == CycleStatus.FAILED
    b = bi_results.c
    for result, when in conn.execute(sa.select(b.result, b.at).where(b.at >= since, b.at < until)):
        at(when)[f"bi_{result}"] += 1
    a = alerts.c
    counted = {AlertKind.BLOCKED_USE: "blocked_uses", AlertKind.UNSAFE_USE: "unsafe_uses"}
    for kind, created_at in conn.execute(
        sa.select(a.kind, a.created_at).where(
            a.kind.in_(counted), a.created_at >= since, a.created_at < until
        )
    ):
        at(created_at)[counted[kind]] += 1
    for used_at, seconds in _turnarounds(conn, since, until):
        at(used_at)["turnaround_s"].append(seconds)
    for seven, tray in _not_ready_at(conn, since, until, zone):
        row = at(seven)
        row["not_ready"] += 1
        row["not_ready_trays"][tray] += 1
    return [_figures(name, row) for name, row in sorted(periods.items(), reverse=True)]


def _turnarounds(
    conn: Connection, since: datetime, until: datetime
) -> list[tuple[datetime, float]]:
    """(end of use, seconds until sterile again) for each use ended in the window: the end
    is the return scan, else the use; sterile again is the end of the first passing load
    the item went into after it. An instrument reprocessed inside a tray is counted with
    its tray, which is what the case used and scanned."""
    u, si, s, c = usage_logs.c, session_items.c, sessions.c, cycles.c
    uses = conn.execute(
        sa.select(u.item, sa.func.coalesce(u.returned_at, u.used_at).label("ended")).where(
            sa.func.coalesce(u.returned_at, u.used_at) >= since,
            sa.func.coalesce(u.returned_at, u.used_at) < until,
        )
    ).all()
    items = sorted({row.item for row in uses})
    if not items:
        return []
    passes: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    for item, added_at, completed_at in conn.execute(
        sa.select(si.item, si.at, c.completed_at)
        .select_from(
            session_items.join(sessions, s.session_id == si.session_id).join(
                cycles, c.session_id == si.session_id
            )
        )
        .where(si.item.in_(items), si.action == "add", c.result == "pass")
        .order_by(si.at)
    ):
        if completed_at is not None:
            passes[item].append((as_utc(added_at), as_utc(completed_at)))
    found = []
    for row in uses:
        ended = as_utc(row.ended)
        after = [done for added, done in passes[row.item] if added >= ended]
        if after:
            found.append((ended, (min(after) - ended).total_seconds()))
    return found


READY_BY = time(7, 0)  # when the day's first cases need their trays on the shelf


def _not_ready_at(
    conn: Connection, since: datetime, until: datetime, zone: tzinfo
) -> list[tuple[datetime, str]]:
    """(07:00 of the day, tray) for each tray a case scheduled that day needs that was not
    ready at 07:00 in the site's zone: ready means the newest load it went into before
    07:00 had ended with a passing cycle, that load is not failed, quarantined or cancelled
    (as the hub knows it now: a BI that failed later still counts against it), and the
    tray was not used again between that load's end and 07:00."""
    rc, si, s, c, u = ref_cases.c, session_items.c, sessions.c, cycles.c, usage_logs.c
    cases = conn.execute(
        sa.select(rc.scheduled_start, rc.trays).where(
            rc.scheduled_start >= since, rc.scheduled_start < until, rc.trays.is_not(None)
        )
    ).all()
    needed: list[tuple[datetime, str]] = []
    for start, trays in cases:
        day = as_utc(start).astimezone(zone).date()
        seven = datetime.combine(day, READY_BY, tzinfo=zone)
        needed += [(seven, tray) for tray in json.loads(trays)]
    wanted = sorted({tray for _, tray in needed})
    if not wanted:
        return []
    loads: dict[str, list[tuple[datetime, datetime | None, bool]]] = defaultdict(list)
    for tray, added_at, completed_at, result, status in conn.execute(
        sa.select(si.item, si.at, c.completed_at, c.result, c.status)
        .select_from(
            session_items.join(sessions, s.session_id == si.session_id).join(
                cycles, c.session_id == si.session_id
            )
        )
        .where(si.item.in_(wanted), si.action == "add")
    ):
        good = result == "pass" and status not in UNRELEASED
        loads[tray].append((as_utc(added_at), as_utc(completed_at) if completed_at else None, good))
    uses: dict[str, list[datetime]] = defaultdict(list)
    for tray, used_at in conn.execute(
        sa.select(u.item, u.used_at).where(u.item.in_(wanted), u.used_at.is_not(None))
    ):
        uses[tray].append(as_utc(used_at))
    late = []
    for seven, tray in needed:
        before = [load for load in loads[tray] if load[0] < seven]
        if not before:
            late.append((seven, tray))
            continue
        _, ended, good = max(before)
        used_since = ended is not None and any(ended < use < seven for use in uses[tray])
        if ended is None or ended >= seven or not good or used_since:
            late.append((seven, tray))
    return late


def _figures(name: str, row: dict[str, Any]) -> dict[str, Any]:
    times = sorted(row["turnaround_s"])
    return {
        "period": name,
        "trays_assembled": row["trays_assembled"],
        "trays_short": row["trays_short"],
        "missing": dict(row["missing"].most_common()),
        "loads": dict(sorted(row["loads"].items())),
        "loads_failed": row["loads_failed"],
        "bi_pass": row["bi_pass"],
        "bi_fail": row["bi_fail"],
        "turnarounds": len(times),
        "turnaround_median_s": statistics.median(times) if times else None,
        "turnaround_p90_s": times[min(len(times) - 1, int(0.9 * len(times)))] if times else None,
        "not_ready": row["not_ready"],
        "not_ready_trays": dict(row["not_ready_trays"].most_common()),
        "blocked_uses": row["blocked_uses"],
        "unsafe_uses": row["unsafe_uses"],
    }


def window(now: datetime, period: Period) -> tuple[datetime, datetime]:
    """The default window: the last 7 days, or the last 4 weeks."""
    return now - timedelta(days=7 if period == "day" else 28), now
