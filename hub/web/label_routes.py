"""The labels page: every sheet `scantrail-hub labels` prints, to download as PDF or SVG."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Path, Query, Request, Response
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.engine import Engine

from hub.access.roles import Permission
from hub.labels import sheets
from hub.labels.render import Format, Paper
from hub.web.errors import NotFound
from protocol.vocabulary import Mode

MEDIA = {Format.PDF: "application/pdf", Format.SVG: "image/svg+xml"}


def add(app: FastAPI, engine: Engine, permit: Any, templates: Jinja2Templates) -> None:
    @app.get(
        "/labels",
        response_class=HTMLResponse,
        dependencies=[permit(Permission.READ_REFERENCE)],
        include_in_schema=False,
    )
    def labels_page(request: Request) -> HTMLResponse:
        context = {
            "modes": list(Mode),
            "kinds": list(sheets.REFERENCE),
            "papers": list(Paper),
            "formats": list(Format),
        }
        return templates.TemplateResponse(request, "labels.html", context)

    @app.get(
        "/labels/{kind}",
        dependencies=[permit(Permission.READ_REFERENCE)],
        response_class=Response,
        responses={200: {"content": {m: {} for m in MEDIA.values()}}},
    )
    def label_sheet(
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
            with engine.connect() as conn:
                printed = sheets.reference(conn, kind, paper, format)
        else:
            raise NotFound(f"no labels of kind {kind!r}; there are {', '.join(sheets.KINDS)}")
        name = f"scantrail-{kind}{'-' + mode.value if mode else ''}-{paper.value}.{format.value}"
        headers = {
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Skipped": str(len(printed.skipped)),
        }
        return Response(printed.document, media_type=MEDIA[format], headers=headers)
