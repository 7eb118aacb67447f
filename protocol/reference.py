"""The reference snapshot a station pulls from the hub (``GET /api/v1/reference``) and
keeps for offline feedback. Codes are decoded keys (``site:INS-1``), as the station's own
decoder makes them. Additive in v1: a field a station does not know is ignored."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from protocol.barcodes.rules import DecodeRules
from protocol.messages import UtcDatetime


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class InstrumentRef(_Part):
    key: str
    name: str
    category: str | None = None
    implant: bool = False


class TrayRef(_Part):
    key: str
    name: str
    recipe: dict[str, int]  # instrument key or category: how many


class Blocked(_Part):
    """An item that must not reach a patient, and why, in words for the person scanning."""

    key: str
    reason: str


class FailedLoad(_Part):
    """A load its sterilizer's own record failed (hub/reconcile/capture.py): the station
    beside that sterilizer says so on its screen, before anyone releases it."""

    key: str  # the load's session id
    label: str  # as printed: STE-A1.1042
    sterilizer: str  # the sterilizer's key
    reason: str


class StaffRef(_Part):
    key: str
    name: str
    role: str


class ReferenceSnapshot(_Part):
    built_at: UtcDatetime
    instruments: tuple[InstrumentRef, ...] = ()
    trays: tuple[TrayRef, ...] = ()
    blocked: tuple[Blocked, ...] = ()
    open_trays: dict[str, str] = {}  # item key -> the tray it is being assembled into
    staff: tuple[StaffRef, ...] = ()
    rules: DecodeRules | None = None  # the site's rules, as the hub decodes with them
    # Names the unsafe part of ``blocked`` as the hub's reference notice does.
    unsafe_version: str | None = None
    failed_loads: tuple[FailedLoad, ...] = ()  # of the last day, newest first


def unsafe_version(entries: Iterable[str]) -> str:
    """A short digest of the items no station may let through because they are unsafe
    (quarantined, or from a failed, quarantined or cancelled load), one entry per item
    naming it and why: equal sets, equal versions. Items in a load still running are
    blocked too, but they are in the sterilizer, not at the OR: they change every scan at
    the sterilizer and are left to the timed poll."""
    return hashlib.sha256("\n".join(sorted(entries)).encode()).hexdigest()[:32]
