"""Which labels a sheet holds: station commands, or every code of one kind of reference
data. The one entry point the CLI and the dashboard share."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.labels.content import Label, NotPrintable, command_sheet, for_key
from hub.labels.render import CODES, COMMANDS, Format, Paper, sheet
from hub.store.records import (
    ref_assets,
    ref_instruments,
    ref_locations,
    ref_staff,
    ref_sterilizers,
    ref_trays,
)
from protocol.vocabulary import Mode

# Kinds of reference data that get labels: the table and the column a person reads.
REFERENCE: dict[str, tuple[sa.Table, str]] = {
    "instruments": (ref_instruments, "name"),
    "trays": (ref_trays, "name"),
    "assets": (ref_assets, "model"),
    "locations": (ref_locations, "name"),
    "staff": (ref_staff, "name"),
    "sterilizers": (ref_sterilizers, "name"),
}
KINDS = ("commands", *REFERENCE)
_MODE_TITLES = {
    Mode.STERILIZER: "Sterilizer station",
    Mode.TRAY_ASSEMBLY: "Tray assembly station",
    Mode.POINT_OF_USE: "Point of use (operating room)",
    Mode.ASSET_MOVE: "Asset move station",
    Mode.EQUIPMENT_CHECKOUT: "Equipment checkout station",
}


@dataclass
class Printed:
    document: bytes
    labels: int
    skipped: list[str] = field(default_factory=list)  # "code: why", for codes with no label


def commands(mode: Mode | None, paper: Paper, fmt: Format) -> Printed:
    """One sheet per station mode (every mode when ``mode`` is None)."""
    modes = [mode] if mode else list(Mode)
    sections = [(f"{_MODE_TITLES[m]}: commands", command_sheet(m)) for m in modes]
    return Printed(sheet(sections, COMMANDS, paper, fmt), sum(len(s) for _, s in sections))


def reference(conn: Connection, kind: str, paper: Paper, fmt: Format) -> Printed:
    """A label for every code of ``kind`` (one of REFERENCE), in code order."""
    table, title = REFERENCE[kind]
    rows = conn.execute(sa.select(table.c.code, table.c[title]).order_by(table.c.code)).all()
    labels: list[Label] = []
    skipped = []
    for code, name in rows:
        try:
            labels.append(for_key(code, name or ""))
        except NotPrintable as exc:
            skipped.append(str(exc))
    document = sheet([(kind.capitalize(), labels)], CODES, paper, fmt)
    return Printed(document, len(labels), skipped)
