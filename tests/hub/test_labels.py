"""Labels (issue 14): every kind is rendered, rasterised, read back with zxing-cpp, and the
project's own decoder reads it as the key and kind it was printed for."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import pypdfium2
import pytest
import sqlalchemy as sa
import zxingcpp
from PIL import Image, ImageDraw

from agent.session import Instant
from agent.station import Station
from hub.__main__ import main as hub_main
from hub.access.roles import Role
from hub.labels import sheets
from hub.labels.content import NotPrintable, for_key
from hub.labels.render import Format, Paper
from hub.store.records import ref_instruments, ref_locations, ref_staff, ref_trays
from hub.web.app import create_app
from protocol.barcodes import DEFAULT_RULES, Decoded, Kind, decode
from protocol.vocabulary import COMMAND_SHEETS, Mode, Outcome
from tests.harness.api import Client
from tests.harness.stations import HubUnderTest

SCALE = 4  # pixels per point: a 1 pt module is 4 px, as a 288 dpi scan sees it

# One code of every printable form, with the kind the decoder must read it as.
REFERENCE = {
    "instruments": [
        ("site:INS-00042", "Mayo scissors", Kind.INSTRUMENT),
        ("gs1:01:09506000134352:21:SCALPEL9", "Scalpel handle no. 3 (UDI)", Kind.INSTRUMENT),
    ],
    "trays": [
        ("site:TRY-7", "Basic laparotomy", Kind.TRAY),
        ("gs1:8003:00950600013439TRAY7", "Ortho set (GRAI)", Kind.TRAY),
    ],
    "locations": [
        ("site:LOC-OR1", "Operating room 1", Kind.LOCATION),
        ("gs1:414:9506000134352", "Sterile store (GLN)", Kind.LOCATION),
    ],
    "staff": [
        ("site:USR-17", "A. Tech", Kind.STAFF),
        ("gs1:8017:950600013430000016", "B. Tech (GSRN)", Kind.STAFF),
    ],
}


def read_pdf(document: bytes) -> list[tuple[str, str]]:
    """(symbology identifier + bytes as a scanner sends them, text) of every symbol."""
    found = []
    pdf = pypdfium2.PdfDocument(document)
    try:
        for index in range(len(pdf)):
            page = pdf[index]
            found.extend(_symbols(page.render(scale=SCALE).to_pil().convert("L")))
            page.close()
    finally:
        pdf.close()
    return found


def read_svg(document: bytes) -> list[tuple[str, str]]:
    """The SVG drawn as a browser would: its rectangles (labels are only rectangles and
    text, and text is no part of a symbol)."""
    root = ET.fromstring(document)
    _, _, width, height = (float(v) for v in root.attrib["viewBox"].split())
    image = Image.new("L", (int(width * SCALE), int(height * SCALE)), 255)
    draw = ImageDraw.Draw(image)
    for group in root.iter("{http://www.w3.org/2000/svg}g"):
        dy = float(group.attrib["transform"].removeprefix("translate(0 ").rstrip(")"))
        for rect in group.iter("{http://www.w3.org/2000/svg}rect"):
            x, y, w, h = (float(rect.attrib[k]) for k in ("x", "y", "width", "height"))
            box = [x * SCALE, (y + dy) * SCALE, (x + w) * SCALE - 1, (y + dy + h) * SCALE - 1]
            draw.rectangle(box, fill=0)
    return _symbols(image)


def _symbols(image: Image.Image) -> list[tuple[str, str]]:
    formats = (zxingcpp.BarcodeFormat.Code128, zxingcpp.BarcodeFormat.DataMatrix)
    return [
        (b.symbology_identifier + b.bytes.decode("latin-1"), b.text)
        for b in zxingcpp.read_barcodes(image, formats=formats)
    ]


@pytest.mark.parametrize("paper", list(Paper))
def test_every_command_sheet_reads_back_as_its_commands(paper: Paper) -> None:
    """Every mode's command sheet, as PDF and as SVG, holds exactly its commands, and the
    decoder reads each as that command."""
    expected = sorted(text for sheet in COMMAND_SHEETS.values() for text, _ in sheet)
    for fmt, read in ((Format.PDF, read_pdf), (Format.SVG, read_svg)):
        printed = sheets.commands(None, paper, fmt)
        found = read(printed.document)
        assert sorted(text for _, text in found) == expected, fmt
        for scanned, text in found:
            reading = decode(scanned)
            assert isinstance(reading, Decoded) and reading.kind is Kind.COMMAND
            assert reading.key == f"site:{text}"


# What a station of each mode has open when each of its commands applies: nothing, its own
# session, or (sterilizer) a cycle label chosen for its BI result.
OPENS = {
    Mode.STERILIZER: ("STE-A1", "STE-A1.1142"),
    Mode.TRAY_ASSEMBLY: ("TRY-7",),
    Mode.POINT_OF_USE: ("CASE-88",),
    Mode.ASSET_MOVE: ("AST-1",),
    Mode.EQUIPMENT_CHECKOUT: ("PAT-9",),
}


@pytest.mark.parametrize("mode", list(Mode))
def test_every_command_on_a_mode_sheet_is_one_its_station_acts_on(mode: Mode) -> None:
    """Each command printed for a mode is kept by a station of that mode, with nothing
    open or with the session it belongs to: no sheet carries a command the station
    refuses as unknown or out of place."""
    station = Station("Wall", mode, DEFAULT_RULES)
    at = Instant(datetime(2026, 12, 1, tzinfo=UTC), 1, "boot-1", True)
    for text, _ in COMMAND_SHEETS[mode]:
        outcomes = []
        for opening in (None, *OPENS[mode]):
            state = station.consider(station.initial(), "USR-1", at, "e0").state
            if opening:
                state = station.consider(state, opening, at, "e1").state
            outcomes.append(station.consider(state, text, at, "e2").outcome)
        assert Outcome.KEPT in outcomes, (text, outcomes)


@pytest.mark.parametrize("fmt", list(Format))
def test_reference_labels_read_back_as_their_codes(hub: HubUnderTest, fmt: Format) -> None:
    """Instrument (site code and UDI), tray (site code and GRAI), location (site code and
    GLN) and staff (site code and GSRN) labels decode to the code they were printed for,
    as the kind it is."""
    tables = {
        "instruments": ref_instruments,
        "trays": ref_trays,
        "locations": ref_locations,
        "staff": ref_staff,
    }
    extra = {"trays": {"recipe": "{}"}, "locations": {"level": "room"}, "staff": {"role": "tech"}}
    with hub.engine.begin() as conn:
        for kind, rows in REFERENCE.items():
            conn.execute(
                sa.insert(tables[kind]),
                [{"code": code, "name": name, **extra.get(kind, {})} for code, name, _ in rows],
            )
    read = read_pdf if fmt is Format.PDF else read_svg
    for kind, rows in REFERENCE.items():
        with hub.engine.connect() as conn:
            printed = sheets.reference(conn, kind, Paper.A4, fmt)
        assert printed.labels == len(rows) and not printed.skipped
        readings = [decode(scanned) for scanned, _ in read(printed.document)]
        assert sorted((r.key, r.kind) for r in readings if isinstance(r, Decoded)) == sorted(
            (code, wanted) for code, _, wanted in rows
        ), kind


def test_an_asset_label_is_a_giai_datamatrix() -> None:
    """An asset's GIAI prints as GS1 DataMatrix and reads back as that asset."""
    label = for_key("gs1:8004:0950600013ASSET7", "Infusion pump")
    document = sheets.sheet([("Assets", [label])], sheets.CODES, Paper.LETTER, Format.PDF)
    ((scanned, text),) = read_pdf(document)
    assert scanned.startswith("]d2") and text == "(8004)0950600013ASSET7"
    reading = decode(scanned)
    assert isinstance(reading, Decoded) and reading.kind is Kind.ASSET
    assert reading.key == "gs1:8004:0950600013ASSET7"


def test_codes_with_no_printable_form_are_skipped_and_named(hub: HubUnderTest) -> None:
    """A HIBC key or an unreadable code is named as skipped; the others still print."""
    with hub.engine.begin() as conn:
        conn.execute(
            sa.insert(ref_instruments),
            [
                {"code": "site:INS-1", "name": "Forceps"},
                {"code": "hibc:H123:PROD1:ABC", "name": "HIBC forceps"},
                {"code": "raw:???", "name": "Unreadable"},
            ],
        )
    with hub.engine.connect() as conn:
        printed = sheets.reference(conn, "instruments", Paper.A4, Format.PDF)
    assert printed.labels == 1
    assert [why.split()[0] for why in printed.skipped] == ["hibc:H123:PROD1:ABC", "raw:???"]
    with pytest.raises(NotPrintable):
        for_key("gs1:01:09506000134352", "a product, not one item")


def test_the_cli_writes_a_sheet_per_mode_without_a_hub(tmp_path: Path) -> None:
    """`scantrail-hub labels commands` needs no configuration and writes one file."""
    out = tmp_path / "sterilizer.svg"
    assert (
        hub_main(["labels", "commands", "--mode", "sterilizer", "--format", "svg", "-o", str(out)])
        == 0
    )
    assert sorted(t for _, t in read_svg(out.read_bytes())) == sorted(
        t for t, _ in COMMAND_SHEETS[Mode.STERILIZER]
    )
    assert hub_main(["labels", "instruments", "-o", str(tmp_path / "x.pdf")]) == 2


def test_the_dashboard_serves_the_sheets(hub: HubUnderTest) -> None:
    """/labels lists every sheet; a sheet downloads as the CLI prints it; an unknown kind
    is a 404 with the one error body."""
    client = Client.as_role(create_app(hub.engine), hub.engine, Role.VIEWER)
    page = client.get("/labels")
    assert page.status_code == 200 and "/labels/commands?mode=sterilizer" in page.text
    sheet = client.get("/labels/commands", params={"mode": "tray_assembly", "format": "svg"})
    assert sheet.status_code == 200 and sheet.headers["content-type"] == "image/svg+xml"
    assert sorted(t for _, t in read_svg(sheet.content)) == sorted(
        t for t, _ in COMMAND_SHEETS[Mode.TRAY_ASSEMBLY]
    )
    missing = client.get("/labels/spoons")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
