"""Browsers sign in here: a username and password (scantrail-hub users create), or an API
token, exchanged for a session. The cookie carries the session's own token, never the
password or the API token, so signing out (or its expiry) ends it for good.

The cookie is HttpOnly and SameSite=Strict, and Secure when the hub is reached over TLS.
Every form here carries a CSRF token (hub/access/csrf.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.engine import Engine

from hub.access import csrf
from hub.access.passwords import MAX_CHARS
from hub.store import tokens, users
from hub.web import guard

LOGIN = "/login"
LOGOUT = "/logout"


def add(app: FastAPI, engine: Engine, templates: Jinja2Templates, session_hours: float) -> None:
    ttl = timedelta(hours=session_hours)

    def form(request: Request, problem: str | None = None, status: int = 200) -> HTMLResponse:
        token = csrf.new()
        page = templates.TemplateResponse(
            request, "login.html", {"problem": problem, "csrf": token}, status_code=status
        )
        page.set_cookie(csrf.COOKIE, token, httponly=True, samesite="strict", secure=_tls(request))
        return page

    @app.get(LOGIN, response_class=HTMLResponse, include_in_schema=False)
    def login_page(request: Request) -> HTMLResponse:
        return form(request)

    @app.post(LOGIN, response_class=HTMLResponse, include_in_schema=False)
    def login(
        request: Request,
        csrf_field: Annotated[str, Form(alias=csrf.FIELD, max_length=128)] = "",
        username: Annotated[str, Form(max_length=users.USERNAME_CHARS)] = "",
        password: Annotated[str, Form(max_length=MAX_CHARS)] = "",
        token: Annotated[str, Form(max_length=256)] = "",
    ) -> Any:
        if not csrf.same(csrf_field, request.cookies.get(csrf.COOKIE)):
            return form(request, "The form expired: sign in again.", 403)
        now = datetime.now(UTC)
        # Read, then write in a transaction of its own: on SQLite a read transaction that
        # then writes fails at once (no busy wait) if the ingest writer committed meanwhile.
        with engine.connect() as conn:
            if token.strip():
                holder = tokens.holder(conn, token.strip(), now)
                if holder is None or holder.kind != "api":
                    return form(request, "That token is unknown, expired or revoked.", 401)
                actor, role, parent = holder.actor, holder.role, holder.token_id
            else:
                found = users.authenticate(conn, username.strip(), password)
                if found is None:
                    return form(request, "That username and password do not match.", 401)
                actor, role, parent = f"user:{username.strip()}", found, None
        with engine.begin() as conn:
            signed = tokens.start_session(conn, actor, role, parent, now, ttl)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(
            guard.COOKIE,
            signed,
            httponly=True,
            samesite="strict",
            secure=_tls(request),
            max_age=int(ttl.total_seconds()),
        )
        response.delete_cookie(csrf.COOKIE)
        return response

    @app.post(LOGOUT, include_in_schema=False)
    def logout(request: Request) -> RedirectResponse:
        # The session ends whether or not the form's CSRF field came: a signed-out cookie
        # must not stay valid, and another site cannot send this one (SameSite=Strict).
        session = request.cookies.get(guard.COOKIE)
        if session:
            with engine.begin() as conn:
                tokens.end_session(conn, session, datetime.now(UTC))
        response = RedirectResponse(LOGIN, status_code=303)
        response.delete_cookie(guard.COOKIE)
        return response


def _tls(request: Request) -> bool:
    return request.url.scheme == "https"
