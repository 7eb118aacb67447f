"""Browsers sign in here: a username and password (scantrail-hub users create), or an API
token, exchanged for a session. The cookie carries the session's own token, never the
password or the API token, so signing out (or its expiry) ends it for good.

The cookie is HttpOnly and SameSite=Strict, and Secure when the hub is reached over TLS.
Every form here carries a CSRF token (hub/access/csrf.py).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from math import ceil
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from hub.access import csrf
from hub.access.passwords import MAX_CHARS
from hub.access.throttle import FLOOD, FLOOD_WINDOW_S, Key, keys_for
from hub.domain.statuses import AlertKind, Severity
from hub.store import tokens, users
from hub.store.alerts import Alerts
from hub.store.audit_chain import append, encode_detail
from hub.web import guard
from hub.web.context import Ctx, Web

LOGIN = "/login"
LOGOUT = "/logout"

log = structlog.get_logger("hub.signin")


CHECK_WAIT_S = 10.0


router = APIRouter(include_in_schema=False)


def record(ctx: Web, action: str, who: str, address: str | None, why: str | None = None) -> None:
    """Every sign-in, kept and logged with where it came from, never the password."""
    log.info(action, who=who, address=address, why=why)
    entry = {
        "at": datetime.now(UTC),
        "actor": who[:128],
        "action": action,
        "entity": "session",
        "entity_key": who[:512],
        "cause": None,
        "detail": encode_detail({"address": address, "why": why}),
    }
    ctx.write(lambda conn: append(conn, [entry]))


def refused(ctx: Web, keys: list[Key], who: str, address: str | None, wrong: bool) -> None:
    """A wrong password or token is kept in the audit trail; a try refused for coming
    too soon only logged (a flood of them must not write a row each)."""
    gate = ctx.gate
    with gate.lock:
        count = gate.throttle.failed if wrong else gate.throttle.refused
        flooded = count(keys, time.monotonic())
    if wrong:
        record(ctx, "signin.failed", who, address)
    else:
        log.warning("signin.throttled", who=who, address=address)
    if flooded:
        raised = Alerts(datetime.now(UTC))
        for kind, value in flooded:
            raised.add(
                Severity.HIGH,
                AlertKind.SIGNIN_FLOOD,
                None,
                f"more than {FLOOD} failed sign-ins within {FLOOD_WINDOW_S / 60:.0f} min "
                f"for the {kind} {value}: someone may be guessing passwords; each further "
                "try waits longer",
                subject=value,
                condition=f"{kind}:{value}",
            )
        ctx.write(raised.write)


def form(ctx: Web, request: Request, problem: str | None = None, status: int = 200) -> HTMLResponse:
    pre_session = csrf.new()
    context = {"problem": problem, "csrf": csrf.for_browser(ctx.gate.key, pre_session)}
    page = ctx.templates.TemplateResponse(request, "login.html", context, status_code=status)
    secure = _tls(request)
    page.set_cookie(csrf.COOKIE, pre_session, httponly=True, samesite="strict", secure=secure)
    return page


@router.get(LOGIN, response_class=HTMLResponse)
def login_page(ctx: Ctx, request: Request) -> HTMLResponse:
    return form(ctx, request)


@router.post(LOGIN, response_class=HTMLResponse)
def login(
    ctx: Ctx,
    request: Request,
    csrf_field: Annotated[str, Form(alias=csrf.FIELD, max_length=128)] = "",
    username: Annotated[str, Form(max_length=users.USERNAME_CHARS)] = "",
    password: Annotated[str, Form(max_length=MAX_CHARS)] = "",
    token: Annotated[str, Form(max_length=256)] = "",
) -> Any:
    pre_session = request.cookies.get(csrf.COOKIE)
    gate = ctx.gate
    if not (pre_session and csrf.same(csrf_field, csrf.for_browser(gate.key, pre_session))):
        return form(ctx, request, "The form expired: sign in again.", 403)
    now = datetime.now(UTC)
    address = request.client.host if request.client else None
    by_token = bool(token.strip())
    who = "token" if by_token else users.actor(username.strip())
    keys = keys_for(None if by_token else username, address)
    with gate.lock:
        wait = gate.throttle.wait_s(keys, time.monotonic())
    if wait:
        refused(ctx, keys, who, address, wrong=False)
        page = form(ctx, request, f"Too many failed sign-ins: try again in {ceil(wait)} s.", 429)
        page.headers["Retry-After"] = str(ceil(wait))
        return page
    if not gate.checking.acquire(timeout=CHECK_WAIT_S):
        return form(ctx, request, "The hub is busy checking sign-ins: try again shortly.", 503)
    try:
        # Read, then write apart (hub/store/writing.py): the check takes argon2's time,
        # which no write may wait for.
        holder = None
        with ctx.engine.connect() as conn:
            if by_token:
                holder = tokens.holder(conn, token.strip(), now)
                found = holder.role if holder and holder.kind == "api" else None
            else:
                found = users.authenticate(conn, username.strip(), password)
    finally:
        gate.checking.release()
    if found is None:
        refused(ctx, keys, who, address, wrong=True)
        if by_token:
            return form(ctx, request, "That token is unknown, expired or revoked.", 401)
        return form(ctx, request, "That username and password do not match.", 401)
    with gate.lock:
        gate.throttle.succeeded(keys)
    if holder is not None:
        actor, role, parent = holder.actor, holder.role, holder.token_id
    else:
        actor, role, parent = who, found, None
    record(ctx, "signin.ok", actor, address)
    signed = ctx.write(lambda conn: tokens.start_session(conn, actor, role, parent, now, gate.ttl))
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        guard.COOKIE,
        signed,
        httponly=True,
        samesite="strict",
        secure=_tls(request),
        max_age=int(gate.ttl.total_seconds()),
    )
    response.delete_cookie(csrf.COOKIE)
    return response


@router.post(LOGOUT)
def logout(ctx: Ctx, request: Request) -> RedirectResponse:
    # The session ends whether or not the form's CSRF field came: a signed-out cookie
    # must not stay valid, and another site cannot send this one (SameSite=Strict).
    session = request.cookies.get(guard.COOKIE)
    if session:
        ctx.write(lambda conn: tokens.end_session(conn, session, datetime.now(UTC)))
    response = RedirectResponse(LOGIN, status_code=303)
    response.delete_cookie(guard.COOKIE)
    return response


def _tls(request: Request) -> bool:
    return request.url.scheme == "https"
