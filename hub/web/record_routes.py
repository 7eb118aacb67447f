"""The record lists' routes, one per kind (hub/store/record_lists.py says which filters each
has): each route's query parameters are a model made from its kind's filters, so the
schema declares exactly what the route accepts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import FastAPI, Query
from pydantic import BaseModel, ConfigDict, Field, create_model
from sqlalchemy.engine import Engine

from hub.store import queries, record_lists
from hub.web import models
from hub.web.signature import signed
from protocol.barcodes import DecodeRules, as_key

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


def _record_route(
    kind: str, model: type[BaseModel], handler: Callable[[str, BaseModel], dict[str, Any]]
) -> Callable[..., dict[str, Any]]:
    """An endpoint for one record list, its query parameters declared by ``model``."""

    def endpoint(filters: BaseModel) -> dict[str, Any]:
        return handler(kind, filters)

    return signed(endpoint, dict[str, Any], filters=Annotated[model, Query()])


def add(app: FastAPI, engine: Engine, permission: Any, rules: DecodeRules) -> None:
    """A route per record kind; ``permission`` is the guard's dependency for reading them."""

    def list_records(kind: str, asked: BaseModel) -> dict[str, Any]:
        given = asked.model_dump(exclude_none=True)
        bounds = {n: given.pop(n, None) for n in ("since", "until", "after")}
        limit = given.pop("limit")
        filters = {
            FILTER_OF.get(name, name): value if name in PLAIN else as_key(value, rules)
            for name, value in given.items()
        }
        with engine.connect() as conn:
            rows, following = record_lists.page(
                conn, kind, filters, bounds["since"], bounds["until"], bounds["after"], limit
            )
            items = queries.named_rows(conn, rows, "item" if kind == "items" else None)
        return {"items": items, "next_after": following}

    for kind, spec in record_lists.LISTS.items():
        title = "".join(part.title() for part in kind.split("-"))
        row = models.record_model(f"{title}Record", spec.table, "item" if kind == "items" else None)
        app.add_api_route(
            f"/api/v1/records/{kind}",
            _record_route(kind, _filters_model(kind, spec), list_records),
            methods=["GET"],
            dependencies=[permission],
            name=f"list_{kind.replace('-', '_')}",
            summary=f"List {kind}",
            response_model=models.page_model(f"{title}Page", row),
            description=RECORDS_HELP,
        )
