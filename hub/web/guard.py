"""The one place the API checks who is calling. Every route declares a permission with
``permit``; ``check_declared`` refuses to build an app with a route that does not.

A caller presents a token as ``Authorization: Bearer <token>`` or, from a browser, in
the ``scantrail_token`` cookie the sign-in page sets (a session: hub/web/signin.py). Both
reach the same check. A change made with the cookie must also carry the session's CSRF
token (hub/access/csrf.py): a header is never sent by another site, a cookie may be.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts

from hub.access import csrf
from hub.access.roles import Permission, Role, allows
from hub.store import tokens
from hub.store.tokens import Holder
from hub.web.context import web
from hub.web.errors import Forbidden, Unauthenticated

COOKIE = "scantrail_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class _Check:
    """A route's declared permission, run as a FastAPI dependency."""

    def __init__(self, permission: Permission) -> None:
        self.permission = permission

    def __call__(self, request: Request) -> Holder:
        shared = web(request)
        # A token from the hub's config grants this permission alone (the metrics scraper's).
        fixed = shared.fixed.get(self.permission)
        token = presented(request)
        if token is None:
            raise Unauthenticated("this needs an API token: Authorization: Bearer <token>")
        by_cookie = "authorization" not in request.headers
        if (
            by_cookie
            and request.method not in SAFE_METHODS
            and not csrf.same(request.headers.get(csrf.HEADER), csrf.for_session(token))
        ):
            raise Forbidden(
                f"a change from a browser needs the page's {csrf.HEADER} header",
                {"reason": "csrf"},
            )
        if fixed is not None and hmac.compare_digest(token.encode(), fixed.encode()):
            scraper = Holder(0, f"config:{self.permission.value}", Role.AGENT)
            request.state.holder = scraper
            return scraper
        with shared.engine.connect() as conn:
            holder = tokens.holder(conn, token, datetime.now(UTC))
        if holder is None:
            raise Unauthenticated("the token is unknown, expired or revoked")
        request.state.holder = holder  # for a handler that records who acted
        if not allows(holder.role, self.permission):
            raise Forbidden(
                f"role {holder.role.value} may not do this; it needs {self.permission.value}",
                {"role": holder.role.value, "permission": self.permission.value},
            )
        return holder


def holder_of(request: Request) -> Holder:
    """Who the route's permission check let in."""
    holder: Holder = request.state.holder
    return holder


def csrf_token(request: Request) -> str:
    """What the signed-in browser's page sends back with a change ("" with no session)."""
    session = request.cookies.get(COOKIE)
    return csrf.for_session(session) if session else ""


def presented(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, value = header.partition(" ")
        return value.strip() if scheme.lower() == "bearer" and value.strip() else ""
    return request.cookies.get(COOKIE)


def permit(permission: Permission) -> Any:
    """The dependency a route lists to declare what it needs."""
    return Depends(_Check(permission))


def routes(app: FastAPI) -> list[RouteContext]:
    """Every API route as the app serves it: an included router's routes carry the
    router's dependencies and the app's (``app.routes`` holds the routers themselves)."""
    return [
        route
        for route in iter_route_contexts(app.routes)
        if isinstance(route.original_route, APIRoute)
    ]


def declared(route: RouteContext) -> Permission | None:
    checks = [d.call for d in route.dependant.dependencies if isinstance(d.call, _Check)]
    return checks[0].permission if len(checks) == 1 else None


def check_declared(app: FastAPI, public: set[str]) -> None:
    """Every API route but the ``public`` ones declares exactly one permission."""
    served = routes(app)
    missing = [r.path for r in served if r.path not in public and declared(r) is None]
    if missing or not served:
        raise RuntimeError(f"routes without a declared permission: {missing or 'no routes'}")
