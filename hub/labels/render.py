"""Sheets of labels as PDF (reportlab) or SVG, in A4 or US Letter.

zxing-cpp makes each symbol; it is drawn module by module as vector rectangles, so it
prints sharp at any size. One layout draws on either surface, so the PDF and the SVG of a
sheet hold the same symbols in the same places.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol
from xml.sax.saxutils import escape

import zxingcpp
from reportlab.lib.pagesizes import A4, LETTER
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from hub.labels.content import Label, NotPrintable, Symbology


class Paper(StrEnum):
    A4 = "a4"
    LETTER = "letter"


class Format(StrEnum):
    PDF = "pdf"
    SVG = "svg"


SIZES: dict[Paper, tuple[float, float]] = {Paper.A4: A4, Paper.LETTER: LETTER}  # points
MARGIN = 36.0  # half an inch: inside what office printers can reach
HEADING = 24.0
FONT = "Helvetica"


@dataclass(frozen=True)
class Grid:
    columns: int
    rows: int
    module: float  # the largest module, in points: 2D symbols
    bar: float  # the widest Code 128 module, in points


CODES = Grid(columns=3, rows=8, module=2.0, bar=1.0)
COMMANDS = Grid(columns=2, rows=6, module=2.5, bar=1.4)  # on a wall: read from further


def symbol(label: Label) -> list[list[bool]]:
    """The symbol's modules, row by row, dark as True, without quiet zones."""
    try:
        if label.symbology is Symbology.GS1_DATAMATRIX:
            made = zxingcpp.create_barcode(label.text, zxingcpp.BarcodeFormat.DataMatrix, gs1=True)
        else:
            made = zxingcpp.create_barcode(label.text, zxingcpp.BarcodeFormat.Code128)
    except Exception as exc:  # zxing-cpp raises plain ValueError/RuntimeError: map them
        raise NotPrintable(f"{label.caption} cannot be encoded: {exc}") from exc
    drawn = zxingcpp.write_barcode_to_image(made, scale=1, add_quiet_zones=False)
    image = memoryview(drawn)  # type: ignore[arg-type]  # its stub omits the buffer protocol
    height, width = image.shape or (0, 0)
    pixels = image.tobytes()
    rows = [[pixels[r * width + c] < 128 for c in range(width)] for r in range(height)]
    return rows[:1] if label.symbology is Symbology.CODE128 else rows


class Surface(Protocol):
    """Top-left origin, points."""

    def rect(self, x: float, y: float, w: float, h: float) -> None: ...
    def text(self, x: float, y: float, text: str, size: float) -> None: ...  # centred at x
    def next_page(self) -> None: ...
    def finish(self) -> bytes: ...


def sheet(sections: list[tuple[str, list[Label]]], grid: Grid, paper: Paper, fmt: Format) -> bytes:
    """Each (heading, labels) section from a new page, as many pages as it takes."""
    width, height = SIZES[paper]
    surface: Surface = _Pdf(width, height) if fmt is Format.PDF else _Svg(width, height)
    per_page = grid.columns * grid.rows
    cell_w = (width - 2 * MARGIN) / grid.columns
    cell_h = (height - 2 * MARGIN - HEADING) / grid.rows
    pages = [
        (heading, labels[first : first + per_page], first // per_page, len(labels))
        for heading, labels in sections
        for first in range(0, max(len(labels), 1), per_page)
    ]
    for number, (heading, labels, page, total) in enumerate(pages):
        if number:
            surface.next_page()
        if total > per_page:
            heading = f"{heading}  ({page + 1}/{(total + per_page - 1) // per_page})"
        surface.text(width / 2, MARGIN + 12, _fit(heading, width - 2 * MARGIN, 12), 12)
        for index, label in enumerate(labels):
            row, column = divmod(index, grid.columns)
            x = MARGIN + column * cell_w
            y = MARGIN + HEADING + row * cell_h
            _cell(surface, label, grid, x, y, cell_w, cell_h)
    return surface.finish()


def _cell(
    surface: Surface, label: Label, grid: Grid, x: float, y: float, w: float, h: float
) -> None:
    modules = symbol(label)
    text_room = 24.0
    if label.symbology is Symbology.CODE128:
        count = len(modules[0]) + 20  # Code 128 wants 10 modules of quiet zone each side
        size = min(grid.bar, w / count)
        bar_h = min(h - text_room - 8, 0.45 * w)
        left = x + (w - len(modules[0]) * size) / 2
        for start, run in _runs(modules[0]):
            surface.rect(left + start * size, y + 4, run * size, bar_h)
        drawn = bar_h
    else:
        count = max(len(modules), len(modules[0])) + 2  # a module of quiet zone each side
        size = min(grid.module, (h - text_room - 8) / count, w / count)
        left = x + (w - len(modules[0]) * size) / 2
        for r, line in enumerate(modules):
            for start, run in _runs(line):
                surface.rect(left + start * size, y + 4 + r * size, run * size, size)
        drawn = len(modules) * size
    surface.text(x + w / 2, y + drawn + 16, _fit(label.title, w - 4, 9), 9)
    surface.text(x + w / 2, y + drawn + 26, _fit(label.caption, w - 4, 7), 7)


def _runs(line: list[bool]) -> Iterator[tuple[int, int]]:
    """(start, length) of each run of dark modules: one rectangle per bar."""
    start = None
    for i, dark in enumerate([*line, False]):
        if dark and start is None:
            start = i
        elif not dark and start is not None:
            yield start, i - start
            start = None


def _fit(text: str, width: float, size: float) -> str:
    if stringWidth(text, FONT, size) <= width:
        return text
    while text and stringWidth(text + "…", FONT, size) > width:
        text = text[:-1]
    return text + "…"


class _Pdf:
    def __init__(self, width: float, height: float) -> None:
        self._out = io.BytesIO()
        self._height = height
        self._canvas = Canvas(self._out, pagesize=(width, height), invariant=True)
        self._canvas.setTitle("scantrail labels")

    def rect(self, x: float, y: float, w: float, h: float) -> None:
        self._canvas.rect(x, self._height - y - h, w, h, stroke=0, fill=1)

    def text(self, x: float, y: float, text: str, size: float) -> None:
        self._canvas.setFont(FONT, size)
        self._canvas.drawCentredString(x, self._height - y, text)

    def next_page(self) -> None:
        self._canvas.showPage()

    def finish(self) -> bytes:
        self._canvas.showPage()
        self._canvas.save()
        return self._out.getvalue()


class _Svg:
    """Pages one under the other in one drawing, each the paper's size."""

    def __init__(self, width: float, height: float) -> None:
        self._width, self._height = width, height
        self._pages: list[list[str]] = [[]]

    def rect(self, x: float, y: float, w: float, h: float) -> None:
        self._pages[-1].append(f'<rect x="{x:.2f}" y="{y:.2f}" width="{w:.2f}" height="{h:.2f}"/>')

    def text(self, x: float, y: float, text: str, size: float) -> None:
        self._pages[-1].append(
            f'<text x="{x:.2f}" y="{y:.2f}" font-size="{size}" text-anchor="middle">'
            f"{escape(text)}</text>"
        )

    def next_page(self) -> None:
        self._pages.append([])

    def finish(self) -> bytes:
        w, h = self._width, self._height
        total = h * len(self._pages)
        parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{w:.2f}pt" height="{total:.2f}pt" '
            f'viewBox="0 0 {w:.2f} {total:.2f}" font-family="Helvetica, Arial, sans-serif">',
            f'<rect width="{w:.2f}" height="{total:.2f}" fill="#fff"/>',
        ]
        for n, page in enumerate(self._pages):
            parts.append(f'<g transform="translate(0 {n * h:.2f})" fill="#000">')
            parts.extend(page)
            parts.append("</g>")
        parts.append("</svg>")
        return "\n".join(parts).encode()
