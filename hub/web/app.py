"""``create_app()``: the FastAPI application. No I/O at import; the engine is handed in."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path as FilePath
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import FastAPI, Path, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from hub import __version__
from hub.health import WriterHealth
from hub.store import queries
from hub.store.recall import recall_set

Limit = Annotated[int, Query(ge=1, le=1000, description="Items per page.")]
After = Annotated[int, Query(ge=0, description="Return items with an id above this.")]
# The record lists the API serves; an unknown one is a 422 naming the allowed values.
RecordKind = StrEnum(  # type: ignore[misc]
    "RecordKind", {k.replace("-", "_"): k for k in queries.RECORD_LISTS}
)
AgentFilter = Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]


def _page(items: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    return {"items": items, "next_after_id": items[-1]["id"] if len(items) == limit else None}


def create_app(engine: Engine, writer: Callable[[], WriterHealth] = WriterHealth) -> FastAPI:
    """``writer`` tells how the hub's writer thread is doing (the CLI's own app has none)."""
    app = FastAPI(title="scantrail hub", version=__version__)
    templates = Jinja2Templates(directory=str(FilePath(__file__).parent / "templates"))

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

    @app.get("/api/v1/status")
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

    @app.get("/api/v1/scans")
    def list_scans(
        agent_id: AgentFilter = None, after_id: After = 0, limit: Limit = 100
    ) -> dict[str, Any]:
        with engine.connect() as conn:
            return _page(queries.scans(conn, agent_id, after_id, limit), limit)

    @app.get("/api/v1/agents")
    def list_agents() -> dict[str, Any]:
        with engine.connect() as conn:
            return {"items": queries.fleet(conn)}

    @app.get("/api/v1/dead-letters")
    def list_dead_letters(after_id: After = 0, limit: Limit = 100) -> dict[str, Any]:
        with engine.connect() as conn:
            return _page(queries.dead_letter_page(conn, after_id, limit), limit)

    @app.get("/api/v1/alerts")
    def list_alerts(after_id: After = 0, limit: Limit = 100) -> dict[str, Any]:
        with engine.connect() as conn:
            return _page(queries.alert_page(conn, after_id, limit), limit)

    @app.get("/api/v1/assets/{key}/where")
    def where_is(key: Annotated[str, Path(max_length=512)], history: Limit = 20) -> Any:
        """Where an asset is, its location's path from the site down, and its newest moves."""
        with engine.connect() as conn:
            found = queries.where_is(conn, key, history)
        if found is None:
            return JSONResponse(
                {"detail": f"no asset {key!r} has reached the hub"}, status_code=404
            )
        return found

    @app.get("/api/v1/cases")
    def list_cases(
        after: Annotated[str, Query(max_length=512)] = "", limit: Limit = 100
    ) -> dict[str, Any]:
        """Surgical cases: scheduled, in_progress, done or cancelled."""
        with engine.connect() as conn:
            items = queries.case_page(conn, after, limit)
        return {"items": items, "next_after": items[-1]["case"] if len(items) == limit else None}

    @app.get("/api/v1/audit")
    def list_audit(after_id: After = 0, limit: Limit = 100) -> dict[str, Any]:
        """The audit trail, oldest first; each actor's badge with the person's name."""
        with engine.connect() as conn:
            return _page(queries.audit_page(conn, after_id, limit), limit)

    @app.get("/api/v1/records/{kind}")
    def list_records(
        kind: RecordKind,
        key: Annotated[str | None, Query(max_length=512)] = None,
        offset: Annotated[int, Query(ge=0)] = 0,
        limit: Limit = 100,
    ) -> dict[str, Any]:
        with engine.connect() as conn:
            items = queries.record_page(conn, kind.value, key, offset, limit)
        return {"items": items, "next_offset": offset + limit if len(items) == limit else None}

    @app.get("/api/v1/recalls/{label}")
    def recall(label: Annotated[str, Path(max_length=512)]) -> Any:
        with engine.connect() as conn:
            found = recall_set(conn, label)
        if found is None:
            return JSONResponse(
                {"detail": f"no cycle labelled {label!r} has reached the hub"}, status_code=404
            )
        return jsonable_encoder(found)

    @app.get("/", response_class=HTMLResponse)
    def dashboard(request: Request) -> HTMLResponse:
        with engine.connect() as conn:
            context = {
                "agents": queries.fleet(conn),
                "projection": queries.projection(conn, datetime.now(UTC)),
                "dead_letters": queries.recent_dead_letters(conn, 20),
                "version": __version__,
            }
        return templates.TemplateResponse(request, "dashboard.html", context)

    return app
