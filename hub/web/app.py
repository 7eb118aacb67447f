"""``create_app()``: the FastAPI application. No I/O at import; the engine is handed in.
Routes live in one router per resource and reach what they share through ``Ctx``
(hub/web/context.py); this builds that once and includes the routers."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path as FilePath
from typing import Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy.engine import Connection, Engine

from hub import __version__
from hub.access.csrf import new_key
from hub.access.roles import Permission
from hub.health import WriterHealth
from hub.metrics import Metrics
from hub.settings import ApiSettings, SiteSettings
from hub.store import reference, tokens
from hub.store.secrets import shared_key
from hub.store.writing import Writes, direct
from hub.web import (
    access_routes,
    api_routes,
    errors,
    guard,
    label_routes,
    pages,
    questions,
    record_routes,
    reference_routes,
    signin,
    stream,
    writes,
)
from hub.web.context import IngestPorts, Web
from hub.web.feed import Feed
from hub.web.gate import Gate
from hub.web.glossary import Names
from hub.web.headers import SecurityHeaders
from hub.web.limits import BodyLimit
from hub.web.open_streams import Streams
from hub.web.snapshot import SnapshotCache
from hub.web.wakeup import Notified
from hub.web.wording import Clock, zone_named
from protocol.barcodes import DEFAULT_RULES, DecodeRules
from protocol.reference import ReferenceSnapshot

SIGNIN_KEY = "signin_csrf"
PUBLIC = {"/healthz", signin.LOGIN, signin.LOGOUT}  # every other route declares a permission
ROUTERS = (
    api_routes,
    record_routes,
    writes,
    questions,
    reference_routes,
    stream,
    signin,
    access_routes,
    label_routes,
    pages,
)


class _Latency:
    """Each request's latency by method, route template and status, as plain ASGI (a
    BaseHTTPMiddleware would sit between the live stream and its client). The endless
    live stream is left out: its duration is how long someone watched."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = [500]

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            path = getattr(scope.get("route"), "path", "unmatched")  # the router sets it
            if path != "/api/v1/stream":
                labels = (scope["method"], path, str(status[0]))
                self.metrics.requests.labels(*labels).observe(time.perf_counter() - began)


def _refusal(conn: Connection, token: str) -> str | None:
    """Why ``token`` no longer opens a live stream, or None while it does."""
    if tokens.holder(conn, token, datetime.now(UTC)) is None:
        return "access ended: the token was revoked or expired, or signed out"
    return None


def create_app(
    engine: Engine,
    writer: Callable[[], WriterHealth] = WriterHealth,
    decode_rules: DecodeRules = DEFAULT_RULES,
    api: ApiSettings | None = None,
    ingest: IngestPorts | None = None,
    metrics: Metrics | None = None,
    site: SiteSettings | None = None,
    write: Writes | None = None,
) -> FastAPI:
    """``writer`` tells how the hub's writer thread is doing (the CLI's own app has none);
    ``decode_rules`` are the site's, handed to stations in the reference snapshot; ``api``
    paces the live stream; ``ingest`` replays dead letters and enters load fields (the
    CLI's app has none: those routes are then a 503); ``metrics`` are the process's, which
    the writer moves too (by default the app's own, reading ``engine``); ``write`` makes
    the API's changes (by default each in its own transaction: hub/store/writing.py)."""
    # The schema and its docs page sit behind a token like the rest (api_routes.py).
    app = FastAPI(
        title="scantrail hub",
        version=__version__,
        openapi_url=None,
        docs_url=None,
        dependencies=[Depends(errors.no_nul)],
        responses=errors.RESPONSES,
    )
    app.redoc_url = None
    templates = Jinja2Templates(directory=str(FilePath(__file__).parent / "templates"))

    def error_page(request: Request, status: int, title: str, message: str) -> Response:
        context = {"title": title, "message": message}
        return templates.TemplateResponse(request, "error.html", context, status_code=status)

    errors.install(app, login_path=signin.LOGIN, page=error_page)
    api = api or ApiSettings()
    site = site or SiteSettings()
    scrape = api.metrics_token.get_secret_value() if api.metrics_token else None
    if metrics is None:
        metrics = Metrics()
        metrics.watch(engine)
    app.add_middleware(_Latency, metrics=metrics)
    app.add_middleware(BodyLimit)
    app.add_middleware(SecurityHeaders)  # outermost: on every answer, refusals too

    def build_snapshot() -> ReferenceSnapshot:
        with engine.connect() as conn:
            return reference.snapshot(conn, decode_rules, datetime.now(UTC))

    shared = engine.dialect.name == "postgresql"  # a database several hubs may share
    app.state.web = Web(
        engine=engine,
        write=write or direct(engine),
        rules=decode_rules,
        api=api,
        site=site,
        clock=Clock(zone_named(site.timezone)),
        templates=templates,
        writer=writer,
        ingest=ingest,
        metrics=metrics,
        fixed={Permission.READ_METRICS: scrape} if scrape else {},
        snapshots=SnapshotCache(build_snapshot),
        streams=Streams(api.streams_per_token, api.streams_total),
        feed=Feed(
            engine,
            _refusal,
            api.stream_poll_s,
            api.stream_access_check_s,
            wakeup=Notified(engine, api.stream_poll_s) if shared else None,
        ),
        # One hub on SQLite keeps its own key; hubs on PostgreSQL share one (gate.py).
        gate=Gate(
            api.session_hours, partial(shared_key, engine, SIGNIN_KEY) if shared else new_key
        ),
        names=Names(),
    )
    for module in ROUTERS:
        app.include_router(module.router)
    # The pages' stylesheet and script: public, like the sign-in page that needs them.
    app.mount("/static", StaticFiles(directory=FilePath(__file__).parent / "static"), "static")

    guard.check_declared(app, PUBLIC)
    return app
