"""The record lists' routes, one per kind (hub/store/record_lists.py says which filters each
has): each route's query parameters are a model made from its kind's filters, so the
schema declares exactly what the route accepts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field, create_model
from sqlalchemy.engine import Connection

from hub.access.roles import Permission
from hub.store import captured, queries, record_lists, records
from hub.store.recall import load_contents, recall_set
from hub.web import api_routes, cycle_chart, guard, models, wording
from hub.web.api_routes import After, Limit
from hub.web.context import Ctx, Web
from hub.web.errors import NotFound
from hub.web.signature import signed
from protocol.barcodes import as_key

# Filters whose value is not a code; the session kind is ``session_kind`` on the API.
PLAIN = frozenset({"status", "session_kind", "agent_id"})
FILTER_OF = {"session_kind": "kind"}
RECORDS_HELP = (
    "Filtered as people search: codes as printed (INS-1) or as keys (site:INS-1); "
    "location includes everything under it; since and until bound the list's time; "
    "next_after pages on. Each badge has the person's name, each catalogued code its name."
)


def _filters_model(kind: str, spec: record_lists.RecordList) -> type[BaseModel]:
    """The query parameters one record list takes, and no others."""
    fields: dict[str, Any] = {}
    for name in spec.filters:
        api_name = "session_kind" if name == "kind" else name
        limit = 64 if api_name in PLAIN else 512
        fields[api_name] = (str | None, Field(None, max_length=limit))
    if spec.time is not None:
        fields["since"] = (datetime | None, Field(None, description=f"{spec.time} at or after"))
        fields["until"] = (datetime | None, Field(None, description=f"{spec.time} before"))
    fields["after"] = (str | None, Field(None, max_length=2048, description="next_after"))
    fields["limit"] = (int, Field(100, ge=1, le=1000))
    title = "".join(part.title() for part in kind.split("-")) + "Filters"
    return create_model(title, __config__=ConfigDict(extra="forbid"), **fields)


def _record_route(kind: str, model: type[BaseModel]) -> Callable[..., dict[str, Any]]:
    """An endpoint for one record list, its query parameters declared by ``model``."""

    def endpoint(ctx: Web, filters: BaseModel) -> dict[str, Any]:
        return list_records(ctx, kind, filters)

    return signed(endpoint, dict[str, Any], ctx=Ctx, filters=Annotated[model, Query()])


router = APIRouter(dependencies=[guard.permit(Permission.READ_RECORDS)])


def list_records(ctx: Web, kind: str, asked: BaseModel) -> dict[str, Any]:
    given = asked.model_dump(exclude_none=True)
    bounds = {n: given.pop(n, None) for n in ("since", "until", "after")}
    limit = given.pop("limit")
    filters = {
        FILTER_OF.get(name, name): value if name in PLAIN else as_key(value, ctx.rules)
        for name, value in given.items()
    }
    with ctx.engine.connect() as conn:
        rows, following = record_lists.page(
            conn, kind, filters, bounds["since"], bounds["until"], bounds["after"], limit
        )
        items = queries.named_rows(conn, rows, "item" if kind == "items" else None)
    return {"items": items, "next_after": following}


def _add_lists() -> None:
    """A route per record kind."""
    for kind, spec in record_lists.LISTS.items():
        title = "".join(part.title() for part in kind.split("-"))
        row = models.record_model(f"{title}Record", spec.table, "item" if kind == "items" else None)
        router.add_api_route(
            f"/api/v1/records/{kind}",
            _record_route(kind, _filters_model(kind, spec)),
            methods=["GET"],
            name=f"list_{kind.replace('-', '_')}",
            summary=f"List {kind}",
            response_model=models.page_model(f"{title}Page", row),
            description=RECORDS_HELP,
        )


_add_lists()


@router.get(
    "/api/v1/assets/{key}/where",
    response_model=models.WhereIs,
)
def where_is(ctx: Ctx, key: Annotated[str, Path(max_length=512)], history: Limit = 20) -> Any:
    """Where an asset is, its location's path from the site down, and its newest moves."""
    with ctx.engine.connect() as conn:
        found = queries.where_is(conn, key, history)
    if found is None:
        raise NotFound(f"no asset {key!r} has reached the hub")
    return found


@router.get(
    "/api/v1/history/{key}",
    response_model=models.HistoryPage,
)
def history(
    ctx: Ctx, key: Annotated[str, Path(max_length=512)], after_id: After = 0, limit: Limit = 100
) -> dict[str, Any]:
    """An instrument's, tray's, asset's, load's or case's history as a timeline, oldest
    first, each entry naming its cause scan and station. Codes as printed or as keys."""
    with ctx.engine.connect() as conn:
        return api_routes.page(
            queries.history(conn, sorted({key, as_key(key, ctx.rules)}), after_id, limit),
            limit,
        )


@router.get(
    "/api/v1/cases",
    response_model=models.CasePage,
)
def list_cases(
    ctx: Ctx, after: Annotated[str, Query(max_length=512)] = "", limit: Limit = 100
) -> dict[str, Any]:
    """Surgical cases: scheduled, in_progress, done or cancelled."""
    with ctx.engine.connect() as conn:
        items = queries.case_page(conn, after, limit)
    return {"items": items, "next_after": items[-1]["case"] if len(items) == limit else None}


cycle_record = models.record_model("Cycle", records.cycles, None)
cycle_reading = models.record_model("CycleReading", records.cycle_readings, None)
captured_cycle = create_model(
    "CapturedCycle",
    __base__=models.record_model("Capture", records.cycle_captures, None),
    reasons=(list[str], Field(description="Why the record failed the load, in words.")),
)
load_answer = create_model(
    "Load",
    __base__=cycle_record,
    contents=(list[models.LoadItem], Field(description="What it held, as it went in.")),
    physical=(
        captured_cycle | None,
        Field(None, description="The cycle as the sterilizer recorded it, judged."),
    ),
    readings=(
        list[cycle_reading],  # type: ignore[valid-type]
        Field([], description="Each line of the sterilizer's record, in the order read."),
    ),
)


@router.get(
    "/api/v1/loads/{label}",
    response_model=load_answer,
)
def load(ctx: Ctx, label: Annotated[str, Path(max_length=512)]) -> dict[str, Any]:
    """A load (``STE-A1.5`` as printed, or its key) with every ST79 field and what it
    held: the items and trays added, and each tray's instruments; and, when the
    sterilizer's record was captured, its verdict, figures and readings."""
    with ctx.engine.connect() as conn:
        found = _load(conn, label, ctx)
        (named,) = queries.named_rows(conn, [found], None)
        contents = load_contents(conn, found["session_id"])
        queries.with_names(conn, contents, None)
        physical = captured.capture(conn, found["capture"])
        lines = captured.readings(conn, found["capture"]) if physical else []
    return {**named, "contents": contents, "physical": physical, "readings": lines}


@router.get(
    "/loads/{label}/cycle.svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}},
)
def load_chart(ctx: Ctx, label: Annotated[str, Path(max_length=512)]) -> Response:
    """The load's cycle as its sterilizer recorded it: temperature and pressure over time,
    the exposure and its set point marked. 404 when no record was captured."""
    with ctx.engine.connect() as conn:
        found = _load(conn, label, ctx)
        physical = captured.capture(conn, found["capture"])
        if physical is None:
            raise NotFound(f"no record of load {label!r} was captured from its sterilizer")
        lines = captured.readings(conn, found["capture"])
    title = f"Load {wording.printed(found['sterilizer'])}.{found['cycle_number'] or ''}"
    return Response(cycle_chart.svg(title, physical, lines, ctx.clock), media_type="image/svg+xml")


def _load(conn: Connection, label: str, ctx: Web) -> dict[str, Any]:
    found = queries.load_by_label(conn, as_key(label, ctx.rules))
    if found is None:
        raise NotFound(f"no load labelled {label!r} has reached the hub")
    return found


@router.get(
    "/api/v1/recalls/{label}",
    response_model=models.Recall,
)
def recall(ctx: Ctx, label: Annotated[str, Path(max_length=512)]) -> Any:
    with ctx.engine.connect() as conn:
        found = recall_set(conn, label)
    if found is None:
        raise NotFound(f"no cycle labelled {label!r} has reached the hub")
    return found  # the response model serializes it (jsonable_encoder took 10x as long)
