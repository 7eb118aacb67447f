"""Reference data over HTTP: list, get, put and delete one row, and import a whole file,
for each kind ``scantrail-hub import`` takes (hub/refdata.py validates and writes both,
so a row is judged the same way whichever door it came through).

Each kind gets its own routes so the schema says what each one takes and answers. Writes
need ``reference:write``; each changed row is an audit entry naming the token's holder.
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from fastapi import APIRouter, Body, Header, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, create_model
from starlette.concurrency import run_in_threadpool

from hub import refdata
from hub.access.roles import Permission
from hub.errors import BadData, ImportFailed
from hub.store.records import REFERENCE
from hub.web import errors, guard
from hub.web.context import Ctx, Web
from hub.web.errors import NotFound
from hub.web.signature import signed
from protocol.barcodes import DecodeRules
from protocol.reference import ReferenceSnapshot

CodePath = Annotated[
    str,
    Path(
        max_length=refdata.MAX_CODE_CHARS,
        pattern=refdata.NOT_BLANK,
        description="As printed, or as a key.",
    ),
]
TYPES = {"application/json": "json", "text/csv": "csv"}


class Imported(BaseModel):
    kind: str
    imported: int = Field(description="Rows written: every row of the body.")


def _title(kind: str) -> str:
    return "".join(part.title() for part in kind.split("_"))


def _models(kind: str) -> tuple[type[BaseModel], type[BaseModel], type[BaseModel]]:
    """The kind's row as stored, its body without the code (which the path gives), and a
    page of rows. Made from the import model's fields: the same names, types and limits,
    without its validators (they run in refdata with the site's decode rules)."""
    fields = refdata.model_of(kind).model_fields
    declared: dict[str, Any] = {n: (f.annotation, f) for n, f in fields.items()}
    # As kept: keys, which may be longer than the codes they came from; no input limits.
    kept: dict[str, Any] = {
        n: (_unconstrained(f.annotation), Field(f.default)) for n, f in fields.items()
    }
    stored = create_model(_title(kind), **kept)
    without_code = {n: spec for n, spec in declared.items() if n != "code"}
    body = create_model(
        f"{_title(kind)}Body", __config__=ConfigDict(extra="forbid"), **without_code
    )
    page = create_model(
        f"{_title(kind)}Page",
        items=(list[stored], ...),
        next_after=(str | None, Field(None, description="Pass as after for the next page.")),
    )
    return stored, body, page


def _unconstrained(annotation: Any) -> Any:
    """``annotation`` without its constraints: list[Annotated[str, ...]] is list[str]."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _unconstrained(args[0])
    if origin in (list, dict):
        return origin[tuple(_unconstrained(a) for a in args)]
    if origin in (Union, UnionType):
        return Union[tuple(_unconstrained(a) for a in args)]  # noqa: UP007
    return annotation


def _import_body(kind: str) -> dict[str, Any]:
    """The import route reads its body itself. Its schema is the JSON list; CSV is said in
    words, as no schema can say which CSV texts hold valid rows."""
    row = _inlined(refdata.model_of(kind).model_json_schema())
    return {
        "requestBody": {
            "required": True,
            "description": "A JSON list of rows, or text/csv with a header row of the same "
            "field names (lists as a;b, count sheets as CODE:2;category:4).",
            "content": {"application/json": {"schema": {"type": "array", "items": row}}},
        }
    }


def _inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with its ``$defs`` put where they are referred to: a nested model's
    ``#/$defs/...`` means nothing once the schema sits inside the OpenAPI document."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return walk(defs[ref.removeprefix("#/$defs/")])
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(value) for value in node]
        return node

    inlined: dict[str, Any] = walk(schema)
    return inlined


router = APIRouter()


def _add_kind(
    kind: str, stored: type[BaseModel], body: type[BaseModel], page: type[BaseModel]
) -> None:
    base = f"/api/v1/reference/{kind}"
    name = kind.replace("-", "_")

    def list_rows(ctx: Web, after: str, limit: int, name: str | None = None) -> dict[str, Any]:
        with ctx.engine.connect() as conn:
            found = refdata.rows(conn, kind, after, limit, name)
        return {"items": found, "next_after": found[-1]["code"] if len(found) == limit else None}

    def get_row(ctx: Web, code: str) -> dict[str, Any]:
        with ctx.engine.connect() as conn:
            found = refdata.row(conn, kind, refdata.key_of(kind, code, ctx.rules))
        if found is None:
            raise NotFound(f"no {kind} row has code {code!r}")
        return found

    def put_row(ctx: Web, request: Request, code: str, values: BaseModel) -> dict[str, Any]:
        given = {**values.model_dump(exclude_unset=True), "code": code}
        parsed = _validated(kind, [given], ctx.rules, "the body")
        _write(ctx, kind, parsed, request)
        return get_row(ctx, parsed[0].code)

    def delete_row(ctx: Web, request: Request, code: str) -> Response:
        key = refdata.key_of(kind, code, ctx.rules)
        by = _actor(request)
        done = ctx.write(lambda conn: refdata.remove(conn, kind, key, by, datetime.now(UTC)))
        if not done:
            raise NotFound(f"no {kind} row has code {code!r}")
        return Response(status_code=204)

    async def import_rows(ctx: Web, request: Request) -> Imported:
        """The whole file or nothing; the first bad row is named with its number."""
        fmt = TYPES.get(request.headers.get("content-type", "").split(";")[0].strip().lower())
        if fmt is None:
            raise errors.UnsupportedType("send application/json (a list) or text/csv")
        raw = await request.body()  # at most limits.IMPORT_BYTES: hub/web/limits.py
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise errors.Invalid(f"the body is not UTF-8: {exc}") from None
        parsed = await run_in_threadpool(
            lambda: _validated(kind, _parsed_rows(text, fmt), ctx.rules, "the body")
        )
        await run_in_threadpool(_write, ctx, kind, parsed, request)
        return Imported(kind=kind, imported=len(parsed))

    Limit = Annotated[int, Query(ge=1, le=1000)]
    Name = Annotated[str | None, Query(max_length=200, description="Part of the name, any case.")]
    named = {"name": (Name, None)} if "name" in REFERENCE[kind].c else {}
    After = Annotated[str, Query(max_length=512, description="next_after of the last page.")]
    read = guard.permit(Permission.READ_REFERENCE)
    write = guard.permit(Permission.MANAGE_REFERENCE)
    routes: list[tuple[str, str, Any, Any, dict[str, Any]]] = [
        (
            "GET",
            base,
            signed(list_rows, page, ctx=Ctx, after=(After, ""), limit=(Limit, 100), **named),
            read,
            {"response_model": page, "summary": f"List {kind} (reference data)"},
        ),
        (
            "GET",
            base + "/{code}",
            signed(get_row, stored, ctx=Ctx, code=CodePath),
            read,
            {"response_model": stored, "summary": f"Get one of {kind}"},
        ),
        (
            "PUT",
            base + "/{code}",
            signed(
                put_row,
                stored,
                ctx=Ctx,
                request=Request,
                code=CodePath,
                values=Annotated[body, Body()],
            ),
            write,
            {"response_model": stored, "summary": f"Create or replace one of {kind}"},
        ),
        (
            "DELETE",
            base + "/{code}",
            signed(delete_row, Response, ctx=Ctx, request=Request, code=CodePath),
            write,
            {"status_code": 204, "response_class": Response, "summary": f"Delete one of {kind}"},
        ),
        (
            "POST",
            base + "/import",
            signed(import_rows, Imported, ctx=Ctx, request=Request),
            write,
            {
                "summary": f"Import {kind}: a JSON list or CSV, as scantrail-hub import takes",
                "openapi_extra": _import_body(kind),
                "responses": {
                    413: {"model": errors.ErrorBody, "description": "over the size limit"},
                    415: {"model": errors.ErrorBody, "description": "neither JSON nor CSV"},
                },
            },
        ),
    ]
    for method, path, endpoint, permission, extra in routes:
        operation = f"{method.lower()}_{name}_{endpoint.__name__}"
        router.add_api_route(
            path,
            endpoint,
            methods=[method],
            dependencies=[permission],
            name=operation,
            operation_id=operation,
            **extra,
        )


def _parsed_rows(text: str, fmt: str) -> list[dict[str, Any]]:
    try:
        return refdata.parse(text, fmt, "the body")
    except ImportFailed as exc:
        raise errors.Invalid(str(exc)) from None


def _validated(kind: str, rows: list[dict[str, Any]], rules: DecodeRules, source: str) -> list[Any]:
    try:
        return refdata.validate(kind, rows, rules, source)
    except ImportFailed as exc:
        raise errors.Invalid(str(exc), {"row": exc.row, "problems": exc.problems}) from None


def _write(ctx: Web, kind: str, parsed: list[Any], request: Request) -> None:
    by = _actor(request)
    try:
        ctx.write(lambda conn: refdata.store(conn, kind, parsed, by, datetime.now(UTC)))
    except BadData as exc:  # a value the database refuses: nothing of it was written
        raise errors.Invalid(f"the database refused a value: {exc}") from None


def _actor(request: Request) -> str:
    return guard.holder_of(request).actor


@router.get(
    "/api/v1/reference",
    dependencies=[guard.permit(Permission.READ_REFERENCE)],
    response_model=ReferenceSnapshot,
    responses={304: {"description": "unchanged since the ETag in If-None-Match"}},
)
def reference_snapshot(
    ctx: Ctx,
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
    served = ctx.snapshots.current(unsafe)
    headers = {"ETag": served.etag, "Cache-Control": "no-cache"}
    if if_none_match is not None and served.etag in if_none_match.split(","):
        return Response(status_code=304, headers=headers)
    return Response(served.body, media_type="application/json", headers=headers)


for _kind in refdata.KINDS:
    _add_kind(_kind, *_models(_kind))
