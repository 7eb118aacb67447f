"""People and their sessions in the API, for admins: list who may sign in, disable or
enable them, delete them, list signed-in browsers and end one. The same as the CLI
(``scantrail-hub users`` and ``sessions``), through hub/store/users.py and tokens.py; each
change is in the audit trail under the admin who made it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import FastAPI, Path, Request, Response
from sqlalchemy.engine import Engine

from hub.errors import ConfigError
from hub.store import tokens, users
from hub.store.audit_chain import append, encode_detail
from hub.store.users import USERNAME_CHARS
from hub.web import guard, models
from hub.web.errors import NotFound
from hub.web.models import MAX_ID

Username = Annotated[str, Path(max_length=USERNAME_CHARS)]
SessionId = Annotated[int, Path(ge=1, le=MAX_ID)]


def add(app: FastAPI, engine: Engine, permission: Any) -> None:
    def changed(request: Request, action: str, key: str, change: Any) -> None:
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
        try:
            with engine.begin() as conn:
                change(conn, now)
                append(conn, [entry])  # after the write: it holds SQLite's write lock
        except ConfigError as exc:
            raise NotFound(str(exc)) from None

    @app.get("/api/v1/users", dependencies=[permission], response_model=models.UserList)
    def list_users() -> dict[str, Any]:
        with engine.connect() as conn:
            return {"items": users.listing(conn)}

    @app.post("/api/v1/users/{username}/disable", dependencies=[permission], status_code=204)
    def disable(request: Request, username: Username) -> Response:
        """The person cannot sign in; their sessions, and so their live streams, end now."""
        changed(request, "access.disable", username, lambda c, now: users.disable(c, username, now))
        return Response(status_code=204)

    @app.post("/api/v1/users/{username}/enable", dependencies=[permission], status_code=204)
    def enable(request: Request, username: Username) -> Response:
        changed(request, "access.enable", username, lambda c, now: users.enable(c, username))
        return Response(status_code=204)

    @app.delete("/api/v1/users/{username}", dependencies=[permission], status_code=204)
    def delete(request: Request, username: Username) -> Response:
        changed(request, "access.delete", username, lambda c, now: users.delete(c, username, now))
        return Response(status_code=204)

    @app.get("/api/v1/sessions", dependencies=[permission], response_model=models.SessionList)
    def list_sessions() -> dict[str, Any]:
        with engine.connect() as conn:
            return {"items": tokens.sessions(conn, datetime.now(UTC))}

    @app.delete("/api/v1/sessions/{session_id}", dependencies=[permission], status_code=204)
    def end_session(request: Request, session_id: SessionId) -> Response:
        def end(conn: Any, now: datetime) -> None:
            if not tokens.end_session_by_id(conn, session_id, now):
                raise ConfigError(f"no live session has id {session_id}")

        changed(request, "access.end_session", str(session_id), end)
        return Response(status_code=204)
