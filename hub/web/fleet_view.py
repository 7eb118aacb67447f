"""How the fleet page shows each agent: pure, from ``queries.fleet`` rows and the time.

Connection comes from the broker (the agent's retained status, or its will), heartbeat
freshness from the last health message; the two are shown apart, because a connected agent
can stop sending heartbeats and a disconnected one's last heartbeat can be recent. Offline
and stopped are neutral states, not problems; problems are what needs a person: alarms, a
gap in the scans, a skewed clock, a connected agent gone quiet, a backlog that is not
draining.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hub.web.wording import word

STALE_HEARTBEAT_S = 90.0  # a few missed heartbeats (agents send one every 30 s by default)
STUCK_BACKLOG_S = 300.0  # an unconfirmed scan this old means delivery is not keeping up


def rows(agents: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """Each agent with ``connection``, ``heartbeat``, ``lag``, ``disk_free`` and
    ``problems``; those with problems first, then by name."""
    shown = [_row(agent, now) for agent in agents]
    return sorted(shown, key=lambda a: (not a["problems"], a["agent_id"]))


def _row(agent: dict[str, Any], now: datetime) -> dict[str, Any]:
    connection = agent["state"] or "unknown"
    age = _age_s(agent["health_at"], now)
    problems = [word(alarm) for alarm in agent["alarms"]]
    if agent["gap_since"]:
        problems.append("gap in the scans")
    if agent["clock_skewed"]:
        problems.append("clock skewed")
    if connection == "online" and (age is None or age > STALE_HEARTBEAT_S):
        problems.append("connected but no recent heartbeat")
    if (agent["oldest_unconfirmed_age_s"] or 0) > STUCK_BACKLOG_S:
        problems.append("backlog not draining")
    return {
        **agent,
        "connection": connection,
        "heartbeat": _heartbeat(age),
        "lag": _lag(agent),
        "disk_free": _bytes(agent["disk_free_bytes"]),
        "problems": problems,
    }


def _heartbeat(age: float | None) -> str:
    if age is None:
        return "none"
    return f"{_ago(age)} (stale)" if age > STALE_HEARTBEAT_S else _ago(age)


def _lag(agent: dict[str, Any]) -> str:
    unconfirmed = max(0, agent["max_seen_seq"] - agent["confirmed_seq"])
    unprojected = max(0, agent["confirmed_seq"] - agent["projected_seq"])
    if not unconfirmed and not unprojected:
        return "none"
    return f"{unconfirmed} unconfirmed, {unprojected} not projected"


def _age_s(iso: str | None, now: datetime) -> float | None:
    return None if iso is None else max(0.0, (now - datetime.fromisoformat(iso)).total_seconds())


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.0f} h ago"


def _bytes(count: int | None) -> str:
    if count is None:
        return "?"
    size = float(count)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000:
            return f"{size:.0f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"


def outages(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A station's connection history (oldest first, from ``agent_events``) as the outages a
    person reads, newest first: when it went offline, when it came back and after how long,
    and when the scans it kept meanwhile had all reached the hub (how many, how fast)."""
    told: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for event in events:
        kind, at = event["kind"], _when(event["at"])
        if kind in ("offline", "stopped"):
            current = {"kind": kind, "down_at": at, "up_at": None, "caught_up_at": None}
            told.append(current)
        elif kind == "online" and current is not None and current["up_at"] is None:
            current["up_at"] = at
            current["down_s"] = (at - current["down_at"]).total_seconds()
        elif kind == "caught_up" and current is not None and current["up_at"] is not None:
            if current["caught_up_at"] is not None:
                continue  # only the first catch-up after coming back ends the outage
            current["caught_up_at"] = at
            current["backlog"] = event["backlog"]
            current["catch_up_s"] = (at - current["up_at"]).total_seconds()
    return told[::-1]


def _when(at: datetime | str) -> datetime:
    return datetime.fromisoformat(at) if isinstance(at, str) else at
