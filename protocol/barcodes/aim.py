"""AIM symbology identifiers (ISO/IEC 15424): ``]`` + code letter + modifier.

Scanners prefix them when configured to; they tell us what was scanned and whether FNC1
(GS1 mode) was present, which decides how the rest is read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_AIM = re.compile(r"^\][A-Za-z][0-9A-Za-z]")

_NAMES = {
    "A": "Code 39",
    "C": "Code 128",
    "d": "Data Matrix",
    "e": "GS1 DataBar",
    "E": "EAN/UPC",
    "F": "Codabar",
    "G": "Code 93",
    "I": "Interleaved 2 of 5",
    "J": "DotCode",
    "L": "PDF417",
    "Q": "QR Code",
    "z": "Aztec",
}

# Identifiers whose data is a GS1 element string (FNC1 in first position).
GS1_IDENTIFIERS = frozenset({"]C1", "]d2", "]Q3", "]e0", "]J1", "]z1", "]L2"})
# Code 39 with the check character verified and stripped by the scanner.
CHECK_STRIPPED = frozenset({"]A3"})
# Modifiers that mean a GS1 Digital Link or other URI may follow.
URI_IDENTIFIERS = frozenset({"]Q1", "]d1", "]Q0", "]d0"})


@dataclass(frozen=True)
class Symbology:
    identifier: str

    @property
    def name(self) -> str:
        return _NAMES.get(self.identifier[1], "unknown symbology")

    @property
    def is_gs1(self) -> bool:
        return self.identifier in GS1_IDENTIFIERS

    @property
    def check_stripped(self) -> bool:
        return self.identifier in CHECK_STRIPPED


def split(raw: str) -> tuple[Symbology | None, str]:
    """Separate a leading AIM identifier from the data."""
    if _AIM.match(raw):
        return Symbology(raw[:3]), raw[3:]
    return None, raw
