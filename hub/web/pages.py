"""The dashboard's pages, rendered on the server (Jinja2).

Each page is a ``screen``: one function reads what it shows, and it is served twice, as
the whole page and, under ``/parts``, as only its live part. The page's script fetches the
part again when the live stream reports a change of the kinds the page lists
(hub/web/static/scantrail.js), so nothing reloads. Filters come from the query string; a
value a page does not know is ignored, as a person expects of a search form.

Pages read through the same queries as the API and declare their permission the same way;
a browser without a session is sent to sign in (hub/web/errors.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.engine import Connection, Engine

from hub import __version__
from hub.access.roles import Permission, Role, allows
from hub.store import due, queries, reports, search
from hub.store.recall import load_contents, recall_set
from hub.store.records import assets, cycles, items, usage_logs
from hub.store.tables import alerts, dead_letters
from hub.web import fleet_view, guard
from hub.web.errors import NotFound
from protocol.barcodes import as_key
from protocol.barcodes.rules import DecodeRules

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
MAX_ARG = 200
Reader = Callable[[Request, Connection], dict[str, Any]]


def arg(request: Request, name: str, choices: tuple[str, ...] | None = None) -> str:
    """A query-string value, or "" when it is missing, too long or not one of ``choices``."""
    value = request.query_params.get(name, "").strip()
    if len(value) > MAX_ARG or (choices is not None and value not in choices):
        return ""
    return value


def add(
    app: FastAPI, engine: Engine, permit: Any, templates: Jinja2Templates, rules: DecodeRules
) -> None:
    def screen(
        path: str,
        name: str,
        title: str | Callable[[Request], str],
        permission: Permission,
        live: str,
        read: Reader,
    ) -> None:
        """Serve ``read``'s context as ``name``.html at ``path``, and as _``name``.html (its
        live part, refreshed on stream events of the ``live`` kinds) under /parts."""
        access = [permit(permission)]

        def context(request: Request) -> dict[str, Any]:
            with engine.connect() as conn:
                return read(request, conn)

        def whole(request: Request) -> HTMLResponse:
            holder = guard.holder_of(request)
            common = {
                "title": title if isinstance(title, str) else title(request),
                "csrf": guard.csrf_token(request),
                "who": f"{holder.actor} ({holder.role.value})",
                "version": __version__,
                "live": live,
                "part_url": "/parts" + request.url.path,
                "part": f"_{name}.html",
                "can": _can(holder.role),
            }
            return templates.TemplateResponse(
                request, f"{name}.html", {**common, **context(request)}
            )

        def part(request: Request) -> HTMLResponse:
            can = _can(guard.holder_of(request).role)
            return templates.TemplateResponse(
                request, f"_{name}.html", {"can": can, **context(request)}
            )

        for route, endpoint in ((path, whole), ("/parts" + path, part)):
            app.add_api_route(
                route,
                endpoint,
                methods=["GET"],
                response_class=HTMLResponse,
                dependencies=access,
                include_in_schema=False,
            )

    # -- fleet and dead letters -------------------------------------------------------------

    def fleet(request: Request, conn: Connection) -> dict[str, Any]:
        now = datetime.now(UTC)
        return {
            "agents": fleet_view.rows(queries.fleet(conn), now),
            "projection": queries.projection(conn, now),
        }

    def letters(request: Request, conn: Connection) -> dict[str, Any]:
        d = dead_letters.c
        rows = conn.execute(sa.select(dead_letters).order_by(d.id.desc()).limit(200))
        return {"letters": [dict(row._mapping) for row in rows]}

    # -- alerts -----------------------------------------------------------------------------

    def alert_list(request: Request, conn: Connection) -> dict[str, Any]:
        severity = arg(request, "severity", ("low", "medium", "high"))
        kind, open_only = arg(request, "kind"), bool(arg(request, "open"))
        a = alerts.c
        query = sa.select(alerts).order_by(a.id.desc()).limit(200)
        if severity:
            query = query.where(a.severity == severity)
        if kind:
            query = query.where(a.kind == kind)
        if open_only:
            query = query.where(a.acknowledged_at.is_(None))
        return {
            "alerts": [dict(row._mapping) for row in conn.execute(query)],
            "kinds": list(conn.execute(sa.select(a.kind).distinct().order_by(a.kind)).scalars()),
            "severity": severity,
            "kind": kind,
            "open_only": open_only,
        }

    # -- search and timelines ----------------------------------------------------------------

    def found(request: Request, conn: Connection) -> dict[str, Any]:
        q = arg(request, "q")
        return {"q": q, "found": search.find(conn, q, rules) if q else []}

    def timeline(request: Request, conn: Connection) -> dict[str, Any]:
        key = request.path_params["key"][:512]
        return {
            "key": key,
            "entries": queries.history(conn, sorted({key, as_key(key, rules)}), 0, 500),
        }

    # -- loads ------------------------------------------------------------------------------

    def load_list(request: Request, conn: Connection) -> dict[str, Any]:
        """Loads of one day (today by default), of one sterilizer or all, newest first."""
        try:
            day = date.fromisoformat(arg(request, "day")) if arg(request, "day") else None
        except ValueError:
            day = None
        day = day or datetime.now(UTC).date()
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        c = cycles.c
        query = (
            sa.select(cycles)
            .where(c.started_at >= start, c.started_at < start + timedelta(days=1))
            .order_by(c.started_key.desc())
        )
        sterilizer = arg(request, "sterilizer")
        if sterilizer:
            query = query.where(c.sterilizer == as_key(sterilizer, rules))
        sterilizers = list(
            conn.execute(sa.select(c.sterilizer).distinct().order_by(c.sterilizer)).scalars()
        )
        return {
            "loads": [dict(row._mapping) for row in conn.execute(query)],
            "day": day.isoformat(),
            "sterilizer": sterilizer,
            "sterilizers": sterilizers,
        }

    def load_record(request: Request, conn: Connection) -> dict[str, Any]:
        label = request.path_params["label"][:512]
        key = as_key(label, rules)
        load = queries.load_by_label(conn, key)
        if load is None:
            raise NotFound(f"no load labelled {label!r} has reached the hub")
        return {
            "label": label,
            "load": load,
            "fields": LOAD_FIELDS,
            "contents": load_contents(conn, load["session_id"]),
            "recall": recall_set(conn, key) if load.get("bi_result") == "fail" else None,
        }

    # -- trays, cases, assets ------------------------------------------------------------------

    def trays(request: Request, conn: Connection) -> dict[str, Any]:
        period: reports.Period = "week" if arg(request, "period") == "week" else "day"
        now = datetime.now(UTC)
        since = now - timedelta(days=28 if period == "week" else 7)
        board = [
            dict(row._mapping)
            for row in conn.execute(
                sa.select(items).where(items.c.kind == "tray").order_by(items.c.key)
            )
        ]
        lead = timedelta(hours=24)
        ready = {t["tray"]: t for case in due.readiness(conn, now, lead) for t in case["trays"]}
        for tray in board:
            tray["not_ready"] = ready[tray["key"]]["not_ready"] if tray["key"] in ready else None
        periods = reports.missing_items(conn, since, now, period)
        return {"board": board, "periods": periods[::-1], "period": period}

    def cases(request: Request, conn: Connection) -> dict[str, Any]:
        now = datetime.now(UTC)
        hours = 8
        upcoming = due.readiness(conn, now, timedelta(hours=hours))
        listed = queries.case_page(conn, "", 200)
        u = usage_logs.c
        used: dict[str, list[str]] = {}
        sessions = [c["session_id"] for c in listed if c["session_id"]]
        for session_id, item in conn.execute(
            sa.select(u.session_id, u.item).where(u.session_id.in_(sessions)).order_by(u.item)
        ):
            used.setdefault(session_id, []).append(item)
        for case in listed:
            case["used"] = used.get(case["session_id"], [])
        return {"upcoming": upcoming, "hours": hours, "cases": listed}

    def asset_list(request: Request, conn: Connection) -> dict[str, Any]:
        now = datetime.now(UTC)
        rows = conn.execute(sa.select(assets).order_by(assets.c.key).limit(500))
        return {
            "assets": [dict(row._mapping) for row in rows],
            "inspections": [d.facts for d in due.overdue_inspections(conn, now)],
            "loans": [d.facts for d in due.overdue_loans(conn, now)],
        }

    read_records = Permission.READ_RECORDS
    screen("/", "fleet", "Fleet", Permission.READ_FLEET, "agent,lag", fleet)
    screen(
        "/dead-letters",
        "dead_letters",
        "Dead letters",
        Permission.READ_SCAN_LOG,
        "dead_letter",
        letters,
    )
    screen("/alerts", "alerts", "Alerts", read_records, "alert", alert_list)
    screen("/search", "search", "Search", read_records, "record", found)
    history_title = lambda r: f"History of {r.path_params['key']}"  # noqa: E731
    screen("/history/{key}", "history", history_title, read_records, "record", timeline)
    screen("/loads", "loads", "Loads", read_records, "record", load_list)
    load_title = lambda r: f"Load {r.path_params['label']}"  # noqa: E731
    screen("/loads/{label}", "load", load_title, read_records, "record", load_record)
    screen("/trays", "trays", "Trays", read_records, "record", trays)
    screen("/cases", "cases", "Cases", read_records, "record", cases)
    screen("/assets", "assets", "Assets", read_records, "record", asset_list)


def _can(role: Role) -> dict[str, bool]:
    """What the page may offer this role, by permission: a button only where it would work."""
    return {p.value: allows(role, p) for p in Permission}
