"""The labels page: every sheet `scantrail-hub labels` prints, to download as PDF or SVG."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import HTMLResponse

from hub.access.roles import Permission
from hub.labels import sheets
from hub.labels.render import Format, Paper
from hub.web import guard
from hub.web.context import Ctx
from hub.web.errors import NotFound
from protocol.vocabulary import Mode

MEDIA = {Format.PDF: "application/pdf", Format.SVG: "image/svg+xml"}


router = APIRouter(dependencies=[guard.permit(Permission.READ_REFERENCE)])


@router.get(
    "/labels",
    response_class=HTMLResponse,
    include_in_schema=False,
)
def labels_page(ctx: Ctx, request: Request) -> HTMLResponse:
    context = {
        "modes": list(Mode),
        "kinds": list(sheets.REFERENCE),
        "papers": list(Paper),
        "formats": list(Format),
    }
    return ctx.templates.TemplateResponse(request, "labels.html", context)


@router.get(
    "/labels/{kind}",
    response_class=Response,
    responses={200: {"content": {m: {} for m in MEDIA.values()}}},
)
def label_sheet(
    ctx: Ctx,
    kind: Annotated[str, Path(max_length=32)],
    paper: Paper = Paper.A4,
    format: Format = Format.PDF,
    mode: Annotated[Mode | None, Query()] = None,
) -> Response:
    """A sheet of labels: ``commands`` (one mode, or every mode), or every code of a
    kind of reference data. Codes with no printable form are left out and named in
    the ``X-Skipped`` header."""
    if kind == "commands":
        printed = sheets.commands(mode, paper, format)
    elif kind in sheets.REFERENCE:
        with ctx.engine.connect() as conn:
            printed = sheets.reference(conn, kind, paper, format)
    else:
        raise NotFound(f"no labels of kind {kind!r}; there are {', '.join(sheets.KINDS)}")
    name = f"scantrail-{kind}{'-' + mode.value if mode else ''}-{paper.value}.{format.value}"
    headers = {
        "Content-Disposition": f'attachment; filename="{name}"',
        "X-Skipped": str(len(printed.skipped)),
    }
    return Response(printed.document, media_type=MEDIA[format], headers=headers)
