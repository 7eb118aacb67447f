"""What the decoder returns: a typed reading or a typed rejection, never an exception."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Kind(StrEnum):
    INSTRUMENT = "instrument"
    PRODUCT = "product"
    TRAY = "tray"
    ASSET = "asset"
    LOCATION = "location"
    STAFF = "staff"
    PATIENT = "patient"
    CASE = "case"
    STERILIZER = "sterilizer"
    COMMAND = "command"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Decoded:
    """A reading: ``key`` is the identity the hub files the record under."""

    kind: Kind
    key: str
    scheme: str  # gs1 | gs1_digital_link | hibc | site | unknown
    fields: dict[str, str] = field(default_factory=dict)
    symbology: str | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rejected:
    """A bad read: ``reason`` is for machines, ``message`` for the person at the station."""

    reason: str
    message: str
    symbology: str | None = None


Result = Decoded | Rejected
