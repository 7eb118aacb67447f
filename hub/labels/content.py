"""What a label says, and in which symbology: pure, no drawing.

The barcode text is what the project's decoder reads back as the same key (the round trip
in tests/hub/test_labels.py): GS1 keys become GS1 DataMatrix (UDI, GRAI, GIAI, GSRN, GLN),
site codes Code 128. HIBC and unreadable codes are refused: the hub keeps a HIBC label's
key, not the text that was printed on it, so it cannot print it again faithfully.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from hub.errors import HubError
from protocol.vocabulary import COMMAND_SHEETS, Mode


class Symbology(StrEnum):
    CODE128 = "code128"
    GS1_DATAMATRIX = "gs1_datamatrix"


@dataclass(frozen=True)
class Label:
    text: str  # exactly what the barcode encodes; GS1 in its (AI) form
    symbology: Symbology
    title: str  # what a person reads: a name or what the command does
    caption: str  # the code as people type it


class NotPrintable(HubError):
    """This code cannot be made into a label; the message says why."""


# The GS1 keys the decoder makes (protocol/barcodes/gs1.py ``_identified``), by AI.
_GS1_SINGLE = ("8003", "8004", "8017", "8018")


def for_key(key: str, title: str) -> Label:
    """The label that the decoder reads back as ``key``."""
    scheme, _, rest = key.partition(":")
    if scheme == "site" and rest:
        return Label(rest, Symbology.CODE128, title, rest)
    if scheme == "gs1":
        text = _gs1_text(rest)
        if text is not None:
            return Label(text, Symbology.GS1_DATAMATRIX, title, text)
    raise NotPrintable(f"{key} has no printable form (site codes and GS1 keys have)")


def _gs1_text(rest: str) -> str | None:
    ai, _, value = rest.partition(":")
    if not value:
        return None
    if ai == "01":
        gtin, serial_ai, serial = value.partition(":21:")
        return f"(01){gtin}(21){serial}" if serial_ai and serial else None
    if ai == "414":
        gln, extension_ai, extension = value.partition(":254:")
        return f"(414){gln}" + (f"(254){extension}" if extension_ai else "")
    return f"({ai}){value}" if ai in _GS1_SINGLE else None


def command_sheet(mode: Mode) -> list[Label]:
    return [Label(text, Symbology.CODE128, title, text) for text, title in COMMAND_SHEETS[mode]]
