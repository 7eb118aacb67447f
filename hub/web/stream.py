"""``/api/v1/stream``: Server-Sent Events of record changes, alerts, agent state, the
projection's lag and the dead letters' state (the newest one, and how many were replayed).

Record changes and alerts come from tables with increasing ids (the audit trail and the
alerts), so an event's id is the pair of cursors after it, ``<audit id>.<alert id>``: a
client that reconnects with ``Last-Event-ID`` gets everything after it, nothing lost. Agent
state and lag are states, not history: a (re)connected client gets the current value of
each, then a new event when it changes. Every client reads from the hub's one poller
(``hub/web/feed.py``); a comment line every ``keepalive_s`` keeps proxies from closing a
quiet stream.

One hub process writes ids in commit order (one writer thread), so a cursor never passes
an entry committed later. Several hub processes on one PostgreSQL would need a commit-ordered
feed (for example LISTEN/NOTIFY with a sequence taken under the projector's lock).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from hub.access.roles import Permission
from hub.web import guard
from hub.web.context import Ctx
from hub.web.errors import Invalid
from hub.web.feed import BATCH, Entry, Feed
from hub.web.models import MAX_ID

KINDS = ("record", "alert", "agent", "lag", "dead_letter")
KINDS_HELP = "Comma-separated, any of: " + ", ".join(KINDS)

router = APIRouter()
# Agent fields that change with every heartbeat; a change of only these is not news.
_HEARTBEAT = ("last_seen_at", "health_at")


@dataclass(frozen=True)
class Cursor:
    audit: int
    alert: int

    def text(self) -> str:
        return f"{self.audit}.{self.alert}"

    @classmethod
    def parse(cls, text: str) -> Cursor:
        audit, dot, alert = text.strip().partition(".")
        ids = (audit, alert)
        if not (dot and all(i.isdigit() and int(i) <= MAX_ID for i in ids) and len(text) <= 40):
            raise Invalid(f"Last-Event-ID {text[:40]!r} is not one this stream sent")
        return cls(int(audit), int(alert))


def wanted_kinds(text: str | None) -> frozenset[str]:
    if text is None:
        return frozenset(KINDS)
    asked = {k.strip() for k in text.split(",") if k.strip()}
    unknown = asked - set(KINDS)
    if unknown or not asked:
        raise Invalid(f"kinds must be some of {', '.join(KINDS)}", {"unknown": sorted(unknown)})
    return frozenset(asked)


def frame(kind: str, data: str, cursor: Cursor) -> str:
    return f"id: {cursor.text()}\nevent: {kind}\ndata: {data}\n\n"


def _json(data: Any) -> str:
    return json.dumps(data, default=str)


@dataclass
class _Seen:
    """What this client was last told about the states."""

    agents: dict[str, dict[str, Any]] = field(default_factory=dict)
    lag: dict[str, Any] | None = None
    dead_letters: dict[str, Any] | None = None


async def _history(
    entries: list[Entry] | None, read: Callable[[int], list[Entry]], after: int
) -> list[Entry]:
    if entries is None:  # further back than the feed holds
        return await run_in_threadpool(read, after)
    return entries


async def _take(
    feed: Feed, cursor: Cursor, kinds: frozenset[str], seen: _Seen
) -> tuple[list[str], Cursor, bool]:
    """The frames this client has not had yet, its cursor after them, and whether more
    history waits (then it reads again at once)."""
    frames: list[str] = []
    more = False
    if "record" in kinds:
        held = feed.records.after(cursor.audit, BATCH)
        for entry in await _history(held, feed.read_records, cursor.audit):
            cursor = Cursor(entry.id, cursor.alert)
            frames.append(frame("record", entry.data, cursor))
        more = len(frames) == BATCH
    if "alert" in kinds:
        held = feed.alerts.after(cursor.alert, BATCH)
        entries = await _history(held, feed.read_alerts, cursor.alert)
        for entry in entries:
            cursor = Cursor(cursor.audit, entry.id)
            frames.append(frame("alert", entry.data, cursor))
        more = more or len(entries) == BATCH
    states = feed.states
    if "agent" in kinds and states.fleet is not None:
        for agent in states.fleet:
            news = {k: v for k, v in agent.items() if k not in _HEARTBEAT}
            if seen.agents.get(agent["agent_id"]) != news:
                seen.agents[agent["agent_id"]] = news
                frames.append(frame("agent", _json(agent), cursor))
    if "lag" in kinds and states.lag is not None:
        news = {k: states.lag[k] for k in ("lag_scans", "lagging_streams")}
        if seen.lag != news:
            seen.lag = news
            frames.append(frame("lag", _json(states.lag), cursor))
    letters = states.dead_letters
    if "dead_letter" in kinds and letters is not None and seen.dead_letters != letters:
        seen.dead_letters = letters
        frames.append(frame("dead_letter", _json(letters), cursor))
    return frames, cursor, more


def ended(reason: str) -> str:
    """The last event of a stream whose access ended; the browser is told not to retry."""
    return f"event: end\ndata: {json.dumps({'reason': reason})}\n\n"


async def events(
    request: Request,
    feed: Feed,
    token: str,
    kinds: frozenset[str],
    resume: Cursor | None,
    keepalive_s: float,
    on_close: Callable[[], None],
) -> AsyncIterator[str]:
    """One client's stream, read from the hub's one ``feed``; it ends, saying why, once
    the feed finds ``token`` no longer opens it (revoked, signed out, expired).
    ``on_close``: run once, however the stream ends."""
    feed.join(token, kinds)
    try:
        yield "retry: 2000\n\n"  # how soon a browser's EventSource reconnects
        cursor = resume
        seen = _Seen()
        quiet_since = time.monotonic()
        while not await request.is_disconnected():
            refused = feed.refusal(token)
            if refused is not None:
                yield ended(refused)
                return
            more = False
            if feed.ready:
                cursor = cursor or Cursor(*feed.heads)
                frames, cursor, more = await _take(feed, cursor, kinds, seen)
                for text in frames:
                    yield text
                if frames:
                    quiet_since = time.monotonic()
            if time.monotonic() - quiet_since >= keepalive_s:
                yield ": keepalive\n\n"
                quiet_since = time.monotonic()
            if not more:
                await feed.next_pass(keepalive_s)
    finally:
        feed.leave(token, kinds)
        on_close()


@router.get(
    "/api/v1/stream",
    dependencies=[guard.permit(Permission.READ_RECORDS)],
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
def live(
    ctx: Ctx,
    request: Request,
    kinds: Annotated[
        str | None,
        Query(max_length=64, description=KINDS_HELP),
    ] = None,
    last_event_id: Annotated[str | None, Header(max_length=64)] = None,
) -> StreamingResponse:
    """Server-Sent Events: record changes, alerts, agent state and projection lag.
    Reconnect with ``Last-Event-ID`` to miss nothing (docs/stream.md)."""
    wanted = wanted_kinds(kinds)
    resume = Cursor.parse(last_event_id) if last_event_id else None
    token = guard.presented(request) or ""

    ctx.streams.open(token)  # 429 past the limits
    sent = events(
        request,
        ctx.feed,
        token,
        wanted,
        resume,
        ctx.api.stream_keepalive_s,
        lambda: ctx.streams.close(token),
    )
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(sent, media_type="text/event-stream", headers=headers)
