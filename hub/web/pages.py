"""The dashboard's pages, rendered on the server (Jinja2). Each page's live part is also a
route of its own under ``/parts``: the page's script fetches it again when the live stream
reports a change of its kind (hub/web/static/scantrail.js), so nothing reloads.

Pages read through the same queries as the API and declare their permission the same way;
a browser without a session is sent to sign in (hub/web/errors.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import FastAPI, Path, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.engine import Engine

from hub import __version__
from hub.access.roles import Permission, allows
from hub.store import queries, search
from hub.store.recall import load_contents, recall_set
from hub.store.tables import alerts
from hub.web import fleet_view, guard
from hub.web.errors import NotFound
from protocol.barcodes import as_key
from protocol.barcodes.rules import DecodeRules

# Route parameters are module-level: FastAPI resolves their annotations by name here.
Severity = Literal["", "low", "medium", "high"]
Kind = Annotated[str, Query(max_length=64)]
Open = Annotated[str, Query(alias="open", max_length=1)]
Key = Annotated[str, Path(max_length=512)]
LOAD_FIELDS = (
    "sterilizer",
    "cycle_number",
    "cycle_type",
    "status",
    "result",
    "started_at",
    "completed_at",
    "exposure_min",
    "temperature_c",
    "ci_result",
    "bi_result",
    "bi_lot",
    "bi_expiry",
    "implant",
    "operator",
    "released_by",
    "early_release_reason",
)


def add(
    app: FastAPI, engine: Engine, permit: Any, templates: Jinja2Templates, rules: DecodeRules
) -> None:
    def page(request: Request, name: str, title: str, **context: Any) -> HTMLResponse:
        holder = guard.holder_of(request)
        common = {
            "title": title,
            "csrf": guard.csrf_token(request),
            "who": f"{holder.actor} ({holder.role.value})",
            "version": __version__,
        }
        return templates.TemplateResponse(request, name, {**common, **context})

    def part(request: Request, name: str, **context: Any) -> HTMLResponse:
        return templates.TemplateResponse(request, name, context)

    # -- fleet ----------------------------------------------------------------------------

    def fleet() -> dict[str, Any]:
        now = datetime.now(UTC)
        with engine.connect() as conn:
            return {
                "agents": fleet_view.rows(queries.fleet(conn), now),
                "projection": queries.projection(conn, now),
                "dead_letters": queries.recent_dead_letters(conn, 20),
            }

    fleet_access = [permit(Permission.READ_FLEET)]

    @app.get("/", response_class=HTMLResponse, dependencies=fleet_access, include_in_schema=False)
    def fleet_page(request: Request) -> HTMLResponse:
        return page(request, "fleet.html", "Fleet", **fleet())

    @app.get(
        "/parts/fleet",
        response_class=HTMLResponse,
        dependencies=fleet_access,
        include_in_schema=False,
    )
    def fleet_part(request: Request) -> HTMLResponse:
        return part(request, "_fleet.html", **fleet())

    # -- alerts ---------------------------------------------------------------------------

    record_access = [permit(Permission.READ_RECORDS)]

    def alert_list(request: Request, severity: str, kind: str, open_only: bool) -> dict[str, Any]:
        a = alerts.c
        query = sa.select(alerts).order_by(a.id.desc()).limit(200)
        if severity:
            query = query.where(a.severity == severity)
        if kind:
            query = query.where(a.kind == kind)
        if open_only:
            query = query.where(a.acknowledged_at.is_(None))
        with engine.connect() as conn:
            found = [dict(row._mapping) for row in conn.execute(query)]
            kinds = list(conn.execute(sa.select(a.kind).distinct().order_by(a.kind)).scalars())
        can_ack = allows(guard.holder_of(request).role, Permission.ACK_ALERTS)
        return {"alerts": found, "kinds": kinds, "can_ack": can_ack}

    @app.get(
        "/alerts", response_class=HTMLResponse, dependencies=record_access, include_in_schema=False
    )
    def alerts_page(
        request: Request, severity: Severity = "", kind: Kind = "", open_only: Open = ""
    ) -> HTMLResponse:
        listed = alert_list(request, severity, kind, bool(open_only))
        return page(
            request,
            "alerts.html",
            "Alerts",
            severity=severity,
            kind=kind,
            open_only=bool(open_only),
            **listed,
        )

    @app.get(
        "/parts/alerts",
        response_class=HTMLResponse,
        dependencies=record_access,
        include_in_schema=False,
    )
    def alerts_part(
        request: Request, severity: Severity = "", kind: Kind = "", open_only: Open = ""
    ) -> HTMLResponse:
        return part(request, "_alerts.html", **alert_list(request, severity, kind, bool(open_only)))

    # -- search and timelines -------------------------------------------------------------

    @app.get(
        "/search", response_class=HTMLResponse, dependencies=record_access, include_in_schema=False
    )
    def search_page(
        request: Request, q: Annotated[str, Query(max_length=200)] = ""
    ) -> HTMLResponse:
        with engine.connect() as conn:
            found = search.find(conn, q, rules) if q.strip() else []
        return page(request, "search.html", "Search", q=q, found=found)

    def timeline(key: str) -> dict[str, Any]:
        with engine.connect() as conn:
            entries = queries.history(conn, sorted({key, as_key(key, rules)}), 0, 500)
        return {"key": key, "entries": entries}

    @app.get(
        "/history/{key}",
        response_class=HTMLResponse,
        dependencies=record_access,
        include_in_schema=False,
    )
    def history_page(request: Request, key: Key) -> HTMLResponse:
        return page(request, "history.html", f"History of {key}", **timeline(key))

    @app.get(
        "/parts/history/{key}",
        response_class=HTMLResponse,
        dependencies=record_access,
        include_in_schema=False,
    )
    def history_part(request: Request, key: Key) -> HTMLResponse:
        return part(request, "_history.html", **timeline(key))

    # -- loads ----------------------------------------------------------------------------

    @app.get(
        "/loads/{label}",
        response_class=HTMLResponse,
        dependencies=record_access,
        include_in_schema=False,
    )
    def load_page(request: Request, label: Key) -> HTMLResponse:
        """A load's record and contents; with a failed BI, its recall trace."""
        key = as_key(label, rules)
        with engine.connect() as conn:
            load = queries.load_by_label(conn, key)
            if load is None:
                raise NotFound(f"no load labelled {label!r} has reached the hub")
            contents = load_contents(conn, load["session_id"])
            recall = recall_set(conn, key) if load.get("bi_result") == "fail" else None
        title = f"Load {label}"
        return page(
            request,
            "load.html",
            title,
            load=load,
            fields=LOAD_FIELDS,
            contents=contents,
            recall=recall,
        )
