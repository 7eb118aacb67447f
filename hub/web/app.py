"""``create_app()``: the FastAPI application. No I/O at import; the engine is handed in."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import Depends, FastAPI, Header, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import Field, create_model
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from hub import __version__
from hub.access.roles import Permission
from hub.health import WriterHealth
from hub.metrics import CONTENT_TYPE, Metrics
from hub.settings import ApiSettings, SiteSettings
from hub.store import queries, records, reference, tokens
from hub.store.recall import load_contents, recall_set
from hub.web import (
    access_routes,
    errors,
    guard,
    label_routes,
    models,
    pages,
    questions,
    record_routes,
    reference_routes,
    signin,
    writes,
)
from hub.web import stream as live_feed
from hub.web.errors import NotFound
from hub.web.feed import Feed
from hub.web.headers import SecurityHeaders
from hub.web.limits import BodyLimit
from hub.web.models import MAX_ID
from hub.web.snapshot import SnapshotCache
from hub.web.writes import IngestPorts
from protocol.barcodes import DEFAULT_RULES, DecodeRules, as_key
from protocol.reference import ReferenceSnapshot

Limit = Annotated[int, Query(ge=1, le=1000, description="Items per page.")]
After = Annotated[int, Query(ge=0, le=MAX_ID, description="Return items with an id above this.")]
KINDS_HELP = "Comma-separated, any of: " + ", ".join(live_feed.KINDS)
PUBLIC = {"/healthz", signin.LOGIN, signin.LOGOUT}  # every other route declares a permission
Code = Annotated[str | None, Query(max_length=512)]
AgentFilter = Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]


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


def _page(items: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    return {"items": items, "next_after_id": items[-1]["id"] if len(items) == limit else None}


def create_app(
    engine: Engine,
    writer: Callable[[], WriterHealth] = WriterHealth,
    decode_rules: DecodeRules = DEFAULT_RULES,
    api: ApiSettings | None = None,
    ingest: IngestPorts | None = None,
    metrics: Metrics | None = None,
    site: SiteSettings | None = None,
) -> FastAPI:
    """``writer`` tells how the hub's writer thread is doing (the CLI's own app has none);
    ``decode_rules`` are the site's, handed to stations in the reference snapshot; ``api``
    paces the live stream; ``ingest`` replays dead letters and enters load fields (the
    CLI's app has none: those routes are then a 503); ``metrics`` are the process's, which
    the writer moves too (by default the app's own, reading ``engine``)."""
    # The schema and its docs page sit behind a token like the rest (routes below).
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
    scrape = api.metrics_token.get_secret_value() if api.metrics_token else None
    permit = guard.permitter(engine, {Permission.READ_METRICS: scrape} if scrape else None)
    if metrics is None:
        metrics = Metrics()
        metrics.watch(engine)
    app.add_middleware(_Latency, metrics=metrics)
    app.add_middleware(BodyLimit)
    app.add_middleware(SecurityHeaders)  # outermost: on every answer, refusals too

    def build_snapshot() -> ReferenceSnapshot:
        with engine.connect() as conn:
            return reference.snapshot(conn, decode_rules, datetime.now(UTC))

    snapshots = SnapshotCache(build_snapshot)
    streams = live_feed.Streams(api.streams_per_token, api.streams_total)
    feed = Feed(engine, _refusal, api.stream_poll_s, api.stream_access_check_s)
    app.state.feed = feed  # what tests count its passes by

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        """503 while the database cannot take writes: the hub is then not acking scans."""
        health = writer()
        if health.database != "ok":
            body = {
                "status": "unavailable",
                "database": health.error,
                "since": health.since.isoformat() if health.since else None,
            }
            return JSONResponse(body, status_code=503)
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except SQLAlchemyError as exc:
            body = {"status": "unavailable", "database": str(exc)[:200]}
            return JSONResponse(body, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok", "version": __version__})

    # Pages and the schema itself are not API operations: they stay out of the schema.
    @app.get(
        "/api/v1/openapi.json",
        dependencies=[permit(Permission.READ_SCHEMA)],
        include_in_schema=False,
    )
    def schema() -> dict[str, Any]:
        return errors.declare_no_nul(app.openapi())  # in place, once: app.openapi() caches

    @app.get("/api/v1/docs", dependencies=[permit(Permission.READ_SCHEMA)], include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        # Served from the hub (hub/web/static/vendor/swagger-ui/VERSION): a hospital network
        # often has no way out, and a page must not load code from another host.
        return templates.TemplateResponse(request, "api_docs.html", {})

    @app.get(
        "/api/v1/status", dependencies=[permit(Permission.READ_FLEET)], response_model=models.Status
    )
    def status() -> dict[str, Any]:
        """The hub itself: its writer, and how far the records lag behind the scan log."""
        health = writer()
        with engine.connect() as conn:
            projection = queries.projection(conn, datetime.now(UTC))
        return {
            "version": __version__,
            "database": health.database,
            "set_aside_scans": health.set_aside,
            "projection": projection,
        }

    @app.get(
        "/api/v1/scans",
        dependencies=[permit(Permission.READ_SCAN_LOG)],
        response_model=models.ScanPage,
    )
    def list_scans(
        agent_id: AgentFilter = None, after_id: After = 0, limit: Limit = 100
    ) -> dict[str, Any]:
        with engine.connect() as conn:
            return _page(queries.scans(conn, agent_id, after_id, limit), limit)

    @app.get(
        "/api/v1/agents",
        dependencies=[permit(Permission.READ_FLEET)],
        response_model=models.AgentList,
    )
    def list_agents() -> dict[str, Any]:
        with engine.connect() as conn:
            return {"items": queries.fleet(conn)}

    @app.get(
        "/api/v1/dead-letters",
        dependencies=[permit(Permission.READ_SCAN_LOG)],
        response_model=models.DeadLetterPage,
    )
    def list_dead_letters(after_id: After = 0, limit: Limit = 100) -> dict[str, Any]:
        with engine.connect() as conn:
            return _page(queries.dead_letter_page(conn, after_id, limit), limit)

    @app.get(
        "/api/v1/alerts",
        dependencies=[permit(Permission.READ_RECORDS)],
        response_model=models.AlertPage,
    )
    def list_alerts(
        after_id: After = 0,
        limit: Limit = 100,
        severity: Annotated[Literal["low", "medium", "high"] | None, Query()] = None,
        kind: Annotated[str | None, Query(max_length=64)] = None,
        agent_id: AgentFilter = None,
        open_only: Annotated[bool, Query(description="Only those not acknowledged.")] = False,
    ) -> dict[str, Any]:
        """Security and safety alerts, oldest first, filtered as asked."""
        given = {"severity": severity, "kind": kind, "agent_id": agent_id}
        filters = {k: v for k, v in given.items() if v is not None}
        with engine.connect() as conn:
            return _page(queries.alert_page(conn, after_id, limit, filters, open_only), limit)

    @app.get(
        "/api/v1/assets/{key}/where",
        dependencies=[permit(Permission.READ_RECORDS)],
        response_model=models.WhereIs,
    )
    def where_is(key: Annotated[str, Path(max_length=512)], history: Limit = 20) -> Any:
        """Where an asset is, its location's path from the site down, and its newest moves."""
        with engine.connect() as conn:
            found = queries.where_is(conn, key, history)
        if found is None:
            raise NotFound(f"no asset {key!r} has reached the hub")
        return found

    @app.get(
        "/api/v1/history/{key}",
        dependencies=[permit(Permission.READ_RECORDS)],
        response_model=models.HistoryPage,
    )
    def history(
        key: Annotated[str, Path(max_length=512)], after_id: After = 0, limit: Limit = 100
    ) -> dict[str, Any]:
        """An instrument's, tray's, asset's, load's or case's history as a timeline, oldest
        first, each entry naming its cause scan and station. Codes as printed or as keys."""
        with engine.connect() as conn:
            return _page(
                queries.history(conn, sorted({key, as_key(key, decode_rules)}), after_id, limit),
                limit,
            )

    @app.get(
        "/api/v1/cases",
        dependencies=[permit(Permission.READ_RECORDS)],
        response_model=models.CasePage,
    )
    def list_cases(
        after: Annotated[str, Query(max_length=512)] = "", limit: Limit = 100
    ) -> dict[str, Any]:
        """Surgical cases: scheduled, in_progress, done or cancelled."""
        with engine.connect() as conn:
            items = queries.case_page(conn, after, limit)
        return {"items": items, "next_after": items[-1]["case"] if len(items) == limit else None}

    @app.get(
        "/api/v1/audit",
        dependencies=[permit(Permission.READ_AUDIT)],
        response_model=models.AuditPage,
    )
    def list_audit(after_id: After = 0, limit: Limit = 100) -> dict[str, Any]:
        """The audit trail, oldest first; each actor's badge with the person's name."""
        with engine.connect() as conn:
            return _page(queries.audit_page(conn, after_id, limit), limit)

    record_routes.add(app, engine, permit(Permission.READ_RECORDS), decode_rules)
    writes.add(app, engine, permit, decode_rules, ingest)
    questions.add(app, engine, permit(Permission.READ_RECORDS))
    reference_routes.add(
        app,
        engine,
        permit(Permission.READ_REFERENCE),
        permit(Permission.MANAGE_REFERENCE),
        decode_rules,
    )

    cycle_record = models.record_model("Cycle", records.cycles, None)
    load_answer = create_model(
        "Load",
        __base__=cycle_record,
        contents=(list[models.LoadItem], Field(description="What it held, as it went in.")),
    )

    @app.get(
        "/api/v1/loads/{label}",
        dependencies=[permit(Permission.READ_RECORDS)],
        response_model=load_answer,
    )
    def load(label: Annotated[str, Path(max_length=512)]) -> dict[str, Any]:
        """A load (``STE-A1.5`` as printed, or its key) with every ST79 field and what it
        held: the items and trays added, and each tray's instruments."""
        with engine.connect() as conn:
            found = queries.load_by_label(conn, as_key(label, decode_rules))
            if found is None:
                raise NotFound(f"no load labelled {label!r} has reached the hub")
            (named,) = queries.named_rows(conn, [found], None)
            contents = load_contents(conn, found["session_id"])
            queries.with_names(conn, contents, None)
        return {**named, "contents": contents}

    @app.get(
        "/api/v1/recalls/{label}",
        dependencies=[permit(Permission.READ_RECORDS)],
        response_model=models.Recall,
    )
    def recall(label: Annotated[str, Path(max_length=512)]) -> Any:
        with engine.connect() as conn:
            found = recall_set(conn, label)
        if found is None:
            raise NotFound(f"no cycle labelled {label!r} has reached the hub")
        return found  # the response model serializes it (jsonable_encoder took 10x as long)

    @app.get(
        "/api/v1/reference",
        dependencies=[permit(Permission.READ_REFERENCE)],
        response_model=ReferenceSnapshot,
        responses={304: {"description": "unchanged since the ETag in If-None-Match"}},
    )
    def reference_snapshot(
        if_none_match: Annotated[str | None, Header(max_length=256)] = None,
        unsafe: Annotated[
            str | None,
            Query(
                max_length=64,
                description="The unsafe items' version from the hub's reference notice: a "
                "snapshot older than it is built again.",
            ),
        ] = None,
    ) -> Response:
        """What a station needs for feedback offline: instruments, tray count sheets, what
        is blocked and why, trays being assembled, staff badges and the site's rules."""
        served = snapshots.current(unsafe)
        headers = {"ETag": served.etag, "Cache-Control": "no-cache"}
        if if_none_match is not None and served.etag in if_none_match.split(","):
            return Response(status_code=304, headers=headers)
        return Response(served.body, media_type="application/json", headers=headers)

    @app.get(
        "/api/v1/stream",
        dependencies=[permit(Permission.READ_RECORDS)],
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    def live(
        request: Request,
        kinds: Annotated[
            str | None,
            Query(max_length=64, description=KINDS_HELP),
        ] = None,
        last_event_id: Annotated[str | None, Header(max_length=64)] = None,
    ) -> StreamingResponse:
        """Server-Sent Events: record changes, alerts, agent state and projection lag.
        Reconnect with ``Last-Event-ID`` to miss nothing (docs/stream.md)."""
        wanted = live_feed.wanted_kinds(kinds)
        resume = live_feed.Cursor.parse(last_event_id) if last_event_id else None
        token = guard.presented(request) or ""

        streams.open(token)  # 429 past the limits
        events = live_feed.events(
            request,
            feed,
            token,
            wanted,
            resume,
            api.stream_keepalive_s,
            lambda: streams.close(token),
        )
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(events, media_type="text/event-stream", headers=headers)

    @app.get(
        "/metrics",
        dependencies=[permit(Permission.READ_METRICS)],
        response_class=Response,
        include_in_schema=False,
    )
    def prometheus() -> Response:
        """Prometheus' text format (hub/metrics.py): admins, or the configured scrape token."""
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    signin.add(app, engine, templates, api.session_hours)
    access_routes.add(app, engine, permit(Permission.MANAGE_ACCESS))
    label_routes.add(app, engine, permit, templates)
    pages.add(app, engine, permit, templates, decode_rules, site or SiteSettings())
    # The pages' stylesheet and script: public, like the sign-in page that needs them.
    app.mount("/static", StaticFiles(directory=FilePath(__file__).parent / "static"), "static")

    guard.check_declared(app, PUBLIC)
    return app
