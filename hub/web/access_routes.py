"""People and their sessions in the API, for admins: list who may sign in, disable or
enable them, delete them, list signed-in browsers and end one. The same as the CLI
(``scantrail-hub users`` and ``sessions``), through hub/store/users.py and tokens.py; each
change is in the audit trail under the admin who made it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from sqlalchemy.engine import Connection

from hub.access.roles import Permission
from hub.errors import ConfigError
from hub.store import tokens, users
from hub.store.audit_chain import append, encode_detail
from hub.store.users import USERNAME_CHARS
from hub.web import guard, models
from hub.web.context import Ctx, Web
from hub.web.errors import NotFound
from hub.web.models import MAX_ID

Username = Annotated[str, Path(max_length=USERNAME_CHARS)]
SessionId = Annotated[int, Path(ge=1, le=MAX_ID)]


router = APIRouter(dependencies=[guard.permit(Permission.MANAGE_ACCESS)])


def changed(ctx: Web, request: Request, action: str, key: str, change: Any) -> None:
    """Make the change and keep who made it; a user that is not there is a 404."""
    now = datetime.now(UTC)
    entry = {
        "at": now,
        "actor": guard.holder_of(request).actor,
        "action": action,
        "entity": "access",
        "entity_key": key,
        "cause": None,
        "detail": encode_detail({}),
    }

    def write(conn: Connection) -> None:
        change(conn, now)
        append(conn, [entry])  # after the write: it holds SQLite's write lock

    try:
        ctx.write(write)
    except ConfigError as exc:
        raise NotFound(str(exc)) from None


@router.get("/api/v1/users", response_model=models.UserList)
def list_users(ctx: Ctx) -> dict[str, Any]:
    with ctx.engine.connect() as conn:
        return {"items": users.listing(conn)}


@router.post("/api/v1/users/{username}/disable", status_code=204)
def disable(ctx: Ctx, request: Request, username: Username) -> Response:
    """The person cannot sign in; their sessions, and so their live streams, end now."""
    changed(
        ctx, request, "access.disable", username, lambda c, now: users.disable(c, username, now)
    )
    return Response(status_code=204)


@router.post("/api/v1/users/{username}/enable", status_code=204)
def enable(ctx: Ctx, request: Request, username: Username) -> Response:
    changed(ctx, request, "access.enable", username, lambda c, now: users.enable(c, username))
    return Response(status_code=204)


@router.delete("/api/v1/users/{username}", status_code=204)
def delete(ctx: Ctx, request: Request, username: Username) -> Response:
    changed(ctx, request, "access.delete", username, lambda c, now: users.delete(c, username, now))
    return Response(status_code=204)


@router.get("/api/v1/sessions", response_model=models.SessionList)
def list_sessions(ctx: Ctx) -> dict[str, Any]:
    with ctx.engine.connect() as conn:
        return {"items": tokens.sessions(conn, datetime.now(UTC))}


@router.delete("/api/v1/sessions/{session_id}", status_code=204)
def end_session(ctx: Ctx, request: Request, session_id: SessionId) -> Response:
    def end(conn: Any, now: datetime) -> None:
        if not tokens.end_session_by_id(conn, session_id, now):
            raise ConfigError(f"no live session has id {session_id}")

    changed(ctx, request, "access.end_session", str(session_id), end)
    return Response(status_code=204)
