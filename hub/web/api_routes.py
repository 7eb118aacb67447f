"""The API's view of the hub itself and its fleet: health, status, the scan log, the fleet,
dead letters, alerts, the audit trail, the schema and its docs, and Prometheus' metrics."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from hub import __version__
from hub.access.roles import Permission
from hub.metrics import CONTENT_TYPE
from hub.store import queries, roster
from hub.web import errors, guard, models
from hub.web.context import Ctx
from hub.web.models import MAX_ID

Limit = Annotated[int, Query(ge=1, le=1000, description="Items per page.")]
After = Annotated[int, Query(ge=0, le=MAX_ID, description="Return items with an id above this.")]
AgentFilter = Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]

router = APIRouter()


def page(items: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    return {"items": items, "next_after_id": items[-1]["id"] if len(items) == limit else None}


@router.get("/healthz")
def healthz(ctx: Ctx) -> JSONResponse:
    """503 while the database cannot take writes: the hub is then not acking scans."""
    health = ctx.writer()
    if health.database != "ok":
        body = {
            "status": "unavailable",
            "database": health.error,
            "since": health.since.isoformat() if health.since else None,
        }
        return JSONResponse(body, status_code=503)
    try:
        with ctx.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except SQLAlchemyError as exc:
        body = {"status": "unavailable", "database": str(exc)[:200]}
        return JSONResponse(body, status_code=503)
    body = {"status": "ok", "database": "ok", "version": __version__}
    return JSONResponse({**body, "hub": health.hub, "role": health.role})


# Pages and the schema itself are not API operations: they stay out of the schema.
@router.get(
    "/api/v1/openapi.json",
    dependencies=[guard.permit(Permission.READ_SCHEMA)],
    include_in_schema=False,
)
def schema(request: Request) -> dict[str, Any]:
    return errors.declare_no_nul(request.app.openapi())  # in place, once: app.openapi() caches


@router.get(
    "/api/v1/docs", dependencies=[guard.permit(Permission.READ_SCHEMA)], include_in_schema=False
)
def docs(ctx: Ctx, request: Request) -> HTMLResponse:
    # Served from the hub (hub/web/static/vendor/swagger-ui/VERSION): a hospital network
    # often has no way out, and a page must not load code from another host.
    return ctx.templates.TemplateResponse(request, "api_docs.html", {})


@router.get(
    "/api/v1/status",
    dependencies=[guard.permit(Permission.READ_FLEET)],
    response_model=models.Status,
)
def status(ctx: Ctx) -> dict[str, Any]:
    """The hub itself: its writer, how far the records lag behind the scan log, and the
    hubs sharing its database with the role of each."""
    health = ctx.writer()
    now = datetime.now(UTC)
    with ctx.engine.connect() as conn:
        projection = queries.projection(conn, now)
        hubs = roster.rows(conn, now) or [
            {"name": health.hub, "role": health.role, "running": True}  # SQLite: one hub
        ]
    leaders = [h["name"] for h in hubs if h["role"] == "leader"]
    return {
        "version": __version__,
        "database": health.database,
        "set_aside_scans": health.set_aside,
        "projection": projection,
        "hub": health.hub,
        "role": health.role,
        "leader": leaders[0] if leaders else None,
        "hubs": hubs,
    }


@router.get(
    "/api/v1/scans",
    dependencies=[guard.permit(Permission.READ_SCAN_LOG)],
    response_model=models.ScanPage,
)
def list_scans(
    ctx: Ctx, agent_id: AgentFilter = None, after_id: After = 0, limit: Limit = 100
) -> dict[str, Any]:
    with ctx.engine.connect() as conn:
        return page(queries.scans(conn, agent_id, after_id, limit), limit)


@router.get(
    "/api/v1/agents",
    dependencies=[guard.permit(Permission.READ_FLEET)],
    response_model=models.AgentList,
)
def list_agents(ctx: Ctx) -> dict[str, Any]:
    with ctx.engine.connect() as conn:
        return {"items": queries.fleet(conn)}


@router.get(
    "/api/v1/dead-letters",
    dependencies=[guard.permit(Permission.READ_SCAN_LOG)],
    response_model=models.DeadLetterPage,
)
def list_dead_letters(ctx: Ctx, after_id: After = 0, limit: Limit = 100) -> dict[str, Any]:
    with ctx.engine.connect() as conn:
        return page(queries.dead_letter_page(conn, after_id, limit), limit)


@router.get(
    "/api/v1/alerts",
    dependencies=[guard.permit(Permission.READ_RECORDS)],
    response_model=models.AlertPage,
)
def list_alerts(
    ctx: Ctx,
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
    with ctx.engine.connect() as conn:
        return page(queries.alert_page(conn, after_id, limit, filters, open_only), limit)


@router.get(
    "/api/v1/audit",
    dependencies=[guard.permit(Permission.READ_AUDIT)],
    response_model=models.AuditPage,
)
def list_audit(ctx: Ctx, after_id: After = 0, limit: Limit = 100) -> dict[str, Any]:
    """The audit trail, oldest first; each actor's badge with the person's name."""
    with ctx.engine.connect() as conn:
        return page(queries.audit_page(conn, after_id, limit), limit)


@router.get(
    "/metrics",
    dependencies=[guard.permit(Permission.READ_METRICS)],
    response_class=Response,
    include_in_schema=False,
)
def prometheus(ctx: Ctx) -> Response:
    """Prometheus' text format (hub/metrics.py): admins, or the configured scrape token."""
    return Response(ctx.metrics.render(), media_type=CONTENT_TYPE)
