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

import csv
import functools
import io
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.engine import Connection

from hub import __version__
from hub.access.roles import Permission, Role, allows
from hub.store import (
    boards,
    captured,
    department,
    due,
    queries,
    reports,
    roster,
    search,
    tokens,
    users,
)
from hub.store.recall import load_contents, recall_set
from hub.web import fleet_view, guard, story, wording
from hub.web.context import Ctx, Web
from hub.web.errors import NotFound
from hub.web.glossary import Glossary
from hub.web.wording import Clock
from protocol.barcodes import as_key
from protocol.barcodes.rules import DecodeRules

MAX_ARG = 200
READY_WITHIN = timedelta(hours=24)  # the tray board's "for a case in the next 24 h"
REPORT_COLUMNS = (
    "period",
    "trays assembled",
    "closed short",
    "loads per sterilizer",
    "loads failed",
    "BI passed",
    "BI failed",
    "turnaround median",
    "turnaround p90",
    "trays not ready at 07:00",
    "missing items",
    "blocked uses",
    "unsafe uses",
)


def arg(request: Request, name: str, choices: tuple[str, ...] | None = None) -> str:
    """A query-string value, or "" when it is missing, too long or not one of ``choices``."""
    value = request.query_params.get(name, "").strip()
    if len(value) > MAX_ARG or (choices is not None and value not in choices):
        return ""
    return value


@dataclass(frozen=True)
class Ask:
    """What a screen's read gets: the page's connection, its glossary and the site's clock."""

    conn: Connection
    g: Glossary
    clock: Clock
    rules: DecodeRules


Reader = Callable[[Request, Ask], dict[str, Any]]
Table = tuple[str, list[str], list[list[Any]]]  # a CSV download: file name, header, rows


router = APIRouter(include_in_schema=False)


def asking(ctx: Web, conn: Connection) -> Ask:
    """What a page's read gets, for one rendered page on ``conn``."""
    guides = functools.partial(wording.guide, instructions=ctx.site.instructions)
    glossary = Glossary(conn, ctx.names.current(conn), ctx.clock, guides)
    return Ask(conn, glossary, ctx.clock, ctx.rules)


def screen(
    path: str,
    name: str,
    title: str | Callable[[Request, Ask], str],
    permission: Permission,
    live: str,
    read: Reader,
) -> None:
    """Serve ``read``'s context as ``name``.html at ``path``, and as _``name``.html (its
    live part, refreshed on stream events of the ``live`` kinds) under /parts. Both
    render inside the read's connection: the page's glossary names loads as it goes."""
    access = [guard.permit(permission)]

    def render(ctx: Web, request: Request, template: str, common: dict[str, Any]) -> HTMLResponse:
        with ctx.engine.connect() as conn:
            ask = asking(ctx, conn)
            context = {"g": ask.g, "can": _can(guard.holder_of(request).role), **common}
            if "title" in common and not isinstance(title, str):
                context["title"] = title(request, ask)
            context.update(read(request, ask))
            return ctx.templates.TemplateResponse(request, template, context)

    def whole(ctx: Ctx, request: Request) -> HTMLResponse:
        holder = guard.holder_of(request)
        common = {
            "title": title if isinstance(title, str) else "",
            "csrf": guard.csrf_token(request),
            "who": holder.actor,
            "who_role": holder.role.value,
            "version": __version__,
            "live": live,
            "part_url": "/parts" + request.url.path,
            "part": f"_{name}.html",
        }
        return render(ctx, request, f"{name}.html", common)

    def part(ctx: Ctx, request: Request) -> HTMLResponse:
        return render(ctx, request, f"_{name}.html", {})

    for route, endpoint in ((path, whole), ("/parts" + path, part)):
        router.add_api_route(
            route,
            endpoint,
            methods=["GET"],
            response_class=HTMLResponse,
            dependencies=access,
        )


def download(path: str, read: Callable[[Request, Ask], Table]) -> None:
    """Serve ``read``'s (file name, header, rows) as CSV at ``path``, each cell escaped
    so a spreadsheet shows it as text and never runs it (wording.csv_cell)."""

    def endpoint(ctx: Ctx, request: Request) -> Response:
        with ctx.engine.connect() as conn:
            filename, header, rows = read(request, asking(ctx, conn))
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows([wording.csv_cell(str(cell)) for cell in row] for row in rows)
        disposition = f'attachment; filename="{filename}"'
        return Response(
            out.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": disposition},
        )

    router.add_api_route(
        path,
        endpoint,
        methods=["GET"],
        dependencies=[guard.permit(Permission.READ_RECORDS)],
    )


# -- fleet and dead letters -------------------------------------------------------------


def fleet(request: Request, ask: Ask) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "agents": fleet_view.rows(queries.fleet(ask.conn), now),
        "projection": queries.projection(ask.conn, now),
        "hubs": roster.rows(ask.conn, now),  # none on SQLite: one hub, no table to show
    }


def station(request: Request, ask: Ask) -> dict[str, Any]:
    agent_id = request.path_params["agent_id"][:128]
    now = datetime.now(UTC)
    found = [a for a in fleet_view.rows(queries.fleet(ask.conn), now) if a["agent_id"] == agent_id]
    if not found:
        raise NotFound(f"no station {agent_id!r} has reported to the hub")
    return {
        "agent": found[0],
        "outages": fleet_view.outages(boards.station_events(ask.conn, agent_id)),
        "alerts": boards.station_alerts(ask.conn, agent_id),
    }


def letters(request: Request, ask: Ask) -> dict[str, Any]:
    return {"letters": boards.newest_dead_letters(ask.conn)}


def people(request: Request, ask: Ask) -> dict[str, Any]:
    sessions = tokens.sessions(ask.conn, datetime.now(UTC))
    signed_in = Counter(
        str(row["name"]).removeprefix("user:")
        for row in sessions
        if str(row["name"]).startswith("user:")
    )
    return {"people": users.listing(ask.conn), "sessions": sessions, "signed_in": signed_in}


# -- alerts -----------------------------------------------------------------------------


def alert_list(request: Request, ask: Ask) -> dict[str, Any]:
    seen = boards.alert_kinds(ask.conn)
    known = sorted({*wording.ALERT_GUIDES, *seen}, key=lambda k: ask.g.guide(k).title)
    where = boards.AlertFilter(
        severity=arg(request, "severity", ("low", "medium", "high")),
        kind=arg(request, "kind", tuple(known)),
        open_only=bool(arg(request, "open")),
    )
    return {
        "alerts": boards.newest_alerts(ask.conn, where),
        "kinds": [(k, ask.g.guide(k).title) for k in known],
        "where": where,
    }


# -- search and timelines ----------------------------------------------------------------


def found(request: Request, ask: Ask) -> dict[str, Any]:
    q = arg(request, "q")
    return {"q": q, "found": search.find(ask.conn, q, ask.rules) if q else []}


def timeline(request: Request, ask: Ask) -> dict[str, Any]:
    typed = request.path_params["key"][:512]
    key = as_key(typed, ask.rules)
    told = history_of(ask, typed, key)
    return {"key": key, "lines": told["lines"], "uses": told["uses"]}


def history_of(ask: Ask, typed: str, key: str) -> dict[str, Any]:
    """Everything that touched ``key``: its audit entries and those of the sessions
    opened for it (a tray's assemblies, a case's opening and end), the items a case
    used, and every alert naming it. NotFound when the hub knows nothing of it."""
    spellings = {typed, key, *boards.sessions_about(ask.conn, key)}
    load = queries.load_by_label(ask.conn, key)
    if load is not None:
        spellings.add(load["session_id"])
    entries = queries.history(ask.conn, sorted(spellings), 0, 500)
    entries += queries.with_scans(ask.conn, boards.asset_moves(ask.conn, key))
    found_alerts = boards.alerts_naming(ask.conn, key)
    cases = boards.case_sessions(ask.conn, key)
    uses = [u for uses in boards.case_uses(ask.conn, cases).values() for u in uses]
    if not (entries or found_alerts or uses or ask.g.name(key) or key in ask.g.catalogue.things):
        raise NotFound(f"no instrument, tray, asset, load or case {typed!r} is known here")
    return {"lines": story.lines(ask.g, entries, found_alerts), "uses": uses}


def history_table(request: Request, ask: Ask) -> Table:
    typed = request.path_params["key"][:512]
    key = as_key(typed, ask.rules)
    told = history_of(ask, typed, key)
    name = re.sub(r"[^\w.-]", "_", wording.printed(key)) or "history"
    header = ["when", "what", "by", "station", "arrived", "scan"]
    return f"history-{name}.csv", header, [line.csv_row(ask.g) for line in told["lines"]]


download("/history/{key}/csv", history_table)

# -- loads ------------------------------------------------------------------------------


def load_list(request: Request, ask: Ask) -> dict[str, Any]:
    """Loads of one day in the site's zone (today by default), of one sterilizer or all,
    newest first."""
    try:
        day = date.fromisoformat(arg(request, "day")) if arg(request, "day") else None
    except ValueError:
        day = None
    day = day or ask.clock.today()
    start = ask.clock.day_start(day)
    sterilizer = arg(request, "sterilizer")
    registered = [k for k, (kind, _) in ask.g.catalogue.things.items() if kind == "sterilizer"]
    return {
        "loads": boards.loads_between(
            ask.conn,
            start,
            ask.clock.day_start(day + timedelta(days=1)),
            as_key(sterilizer, ask.rules) if sterilizer else None,
        ),
        "day": day,
        "sterilizer": as_key(sterilizer, ask.rules) if sterilizer else "",
        "sterilizers": boards.sterilizers(ask.conn, registered),
    }


def load_record(request: Request, ask: Ask) -> dict[str, Any]:
    label = request.path_params["label"][:512]
    key = as_key(label, ask.rules)
    load = queries.load_by_label(ask.conn, key)
    if load is None:
        raise NotFound(f"no load labelled {label!r} has reached the hub")
    return {
        "label": label,
        "label_key": key,
        "load": load,
        "physical": captured.capture(ask.conn, load["capture"]),
        "contents": load_contents(ask.conn, load["session_id"]),
        "recall": recall_set(ask.conn, key) if load.get("bi_result") == "fail" else None,
    }


# -- trays, cases, assets ------------------------------------------------------------------


def trays(request: Request, ask: Ask) -> dict[str, Any]:
    period: reports.Period = "week" if arg(request, "period") == "week" else "day"
    now = datetime.now(UTC)
    since = now - timedelta(days=28 if period == "week" else 7)
    board = boards.tray_board(ask.conn, ask.g.catalogue.trays)
    ready = {
        t["tray"]: t for case in due.readiness(ask.conn, now, READY_WITHIN) for t in case["trays"]
    }
    for tray in board:
        tray["not_ready"] = ready[tray["key"]]["not_ready"] if tray["key"] in ready else None
    ask.g.prefetch_loads([t["last_cycle"] for t in board])
    periods = reports.missing_items(ask.conn, since, now, period)
    return {"board": board, "periods": periods[::-1], "period": period}


def cases(request: Request, ask: Ask) -> dict[str, Any]:
    now = datetime.now(UTC)
    hours = 8
    upcoming = due.readiness(ask.conn, now, timedelta(hours=hours))
    listed = queries.case_page(ask.conn, "", 200)
    used = boards.case_uses(ask.conn, [c["session_id"] for c in listed if c["session_id"]])
    for case in listed:
        case["used"] = used.get(case["session_id"], [])
    ask.g.prefetch_loads([u["load"] for uses in used.values() for u in uses])
    return {"upcoming": upcoming, "hours": hours, "cases": listed}


def department_report(request: Request, ask: Ask) -> dict[str, Any]:
    period: department.Period = "week" if arg(request, "period") == "week" else "day"
    since, until = department.window(datetime.now(UTC), period)
    rows = department.report(ask.conn, since, until, period, ask.clock.zone)
    return {"period": period, "rows": rows}


def report_table(request: Request, ask: Ask) -> Table:
    g = ask.g
    rows = [
        [
            g.period(row["period"]),
            row["trays_assembled"],
            row["trays_short"],
            "; ".join(f"{g.printed(k)} {n}" for k, n in row["loads"].items()),
            row["loads_failed"],
            row["bi_pass"],
            row["bi_fail"],
            g.duration(row["turnaround_median_s"]),
            g.duration(row["turnaround_p90_s"]),
            row["not_ready"],
            "; ".join(f"{n}× {g.printed(k)}" for k, n in row["missing"].items()),
            row["blocked_uses"],
            row["unsafe_uses"],
        ]
        for row in department_report(request, ask)["rows"]
    ]
    return "department-report.csv", list(REPORT_COLUMNS), rows


download("/reports/csv", report_table)


def asset_list(request: Request, ask: Ask) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "assets": boards.asset_rows(ask.conn),
        "inspections": [d.facts for d in due.overdue_inspections(ask.conn, now)],
        "loans": [d.facts for d in due.overdue_loans(ask.conn, now)],
    }


read_records = Permission.READ_RECORDS
screen("/", "fleet", "Fleet", Permission.READ_FLEET, "agent,lag", fleet)


def station_title(request: Request, ask: Ask) -> str:
    agent_id = request.path_params["agent_id"][:128]
    return f"Station {ask.g.catalogue.stations.get(agent_id) or agent_id}"


screen(
    "/stations/{agent_id}",
    "station",
    station_title,
    Permission.READ_FLEET,
    "agent,alert",
    station,
)
screen(
    "/dead-letters",
    "dead_letters",
    "Dead letters",
    Permission.READ_SCAN_LOG,
    "dead_letter",
    letters,
)
screen("/users", "users", "People and sessions", Permission.MANAGE_ACCESS, "record", people)
screen("/alerts", "alerts", "Alerts", read_records, "alert", alert_list)
screen("/search", "search", "Search", read_records, "record", found)


def history_title(request: Request, ask: Ask) -> str:
    return f"History of {wording.printed(as_key(request.path_params['key'][:512], ask.rules))}"


screen("/history/{key}", "history", history_title, read_records, "record", timeline)
screen("/loads", "loads", "Loads", read_records, "record", load_list)


def load_title(request: Request, ask: Ask) -> str:
    return f"Load {wording.printed(as_key(request.path_params['label'][:512], ask.rules))}"


screen("/loads/{label}", "load", load_title, read_records, "record", load_record)
screen("/trays", "trays", "Trays", read_records, "record", trays)
screen("/cases", "cases", "Cases", read_records, "record", cases)
screen("/assets", "assets", "Assets", read_records, "record", asset_list)
screen("/reports", "report", "Department report", read_records, "record", department_report)


def _can(role: Role) -> dict[str, bool]:
    """What the page may offer this role, by permission: a button only where it would work."""
    return {p.value: allows(role, p) for p in Permission}
