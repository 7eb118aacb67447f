"""The barcode grammar (DESIGN.md §4): GS1, HIBC and site labels, one decoder."""

from protocol.barcodes.decode import as_key, decode
from protocol.barcodes.result import Decoded, Kind, Rejected, Result
from protocol.barcodes.rules import DEFAULT_RULES, DecodeRules

__all__ = [
    "DEFAULT_RULES",
    "DecodeRules",
    "Decoded",
    "Kind",
    "Rejected",
    "Result",
    "as_key",
    "decode",
]
