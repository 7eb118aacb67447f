"""The department's words for what the hub stores (pure): a code as printed, a time in the
site's zone, a duration, a status or alert kind as words.

The API speaks keys and UTC; pages, reports and labels speak through this module, so a key
prefix, a UUID or an ISO timestamp never reaches a person (DESIGN.md §6, "For people").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from html import unescape as html_unescape
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hub.domain.statuses import AlertKind

HOST_ZONE_FILE = Path("/etc/localtime")

# A key as the hub files it, inside free text (an alert's detail names codes by key).
KEY_IN_TEXT = re.compile(r"\b(?:site|raw|hibc|hibc-secondary|gs1):[^\s,;()]+")
# A UTC time as the hub writes it into an alert's detail.
TIME_IN_TEXT = re.compile(
    r"\b\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:\+00:00)?)?\b"
)
UUID_IN_TEXT = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")


def printed(key: str | None) -> str:
    """A key as its label prints it: ``site:INS-1041`` → ``INS-1041``, a GS1 key as its
    human-readable line ``(01)…(21)…``, a HIBC key as ``+LICPCN/$+SERIAL``."""
    if not key:
        return ""
    scheme, _, rest = key.partition(":")
    if scheme in ("site", "raw"):
        return rest
    if scheme == "gs1":
        parts = rest.split(":")
        return "".join(f"({ai}){value}" for ai, value in zip(parts[::2], parts[1::2], strict=False))
    if scheme == "hibc":
        lic, _, tail = rest.partition(":")
        pcn, _, serial = tail.partition(":")
        return f"+{lic}{pcn}" + (f"/$+{serial}" if serial else "")
    if scheme == "hibc-secondary":
        return f"HIBC secondary, link {rest}"
    return key


def host_zone() -> tzinfo:
    """The host's zone (its /etc/localtime, so DST rules come with it), else UTC."""
    try:
        with HOST_ZONE_FILE.open("rb") as zone:
            return ZoneInfo.from_file(zone, key="localtime")
    except (OSError, ValueError):
        return UTC


def zone_named(name: str | None) -> tzinfo:
    """An IANA zone by name (settings check it first), or the host's when unset."""
    if not name:
        return host_zone()
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


@dataclass(frozen=True)
class Clock:
    """Times in the site's zone, to the second; recent ones also as "4 min ago"."""

    zone: tzinfo

    def local(self, when: datetime | str | None) -> datetime | None:
        if when is None or when == "":
            return None
        if isinstance(when, str):
            when = datetime.fromisoformat(when)
        if when.tzinfo is None:  # SQLite hands back naive UTC
            when = when.replace(tzinfo=UTC)
        return when.astimezone(self.zone)

    def time(self, when: datetime | str | None, now: datetime | None = None) -> str:
        """``Sun 6 Dec 10:23:05``: the year only when it is not this year's."""
        at = self.local(when)
        if at is None:
            return ""
        today = (now or datetime.now(UTC)).astimezone(self.zone)
        day = f"{at:%a} {at.day} {at:%b}" + (f" {at.year}" if at.year != today.year else "")
        return f"{day} {at:%H:%M:%S}"

    def ago(self, when: datetime | str | None, now: datetime | None = None) -> str:
        """How long ago, for times within the last day: "just now", "4 min ago", "3 h ago"."""
        at = self.local(when)
        if at is None:
            return ""
        seconds = ((now or datetime.now(UTC)) - at).total_seconds()
        if seconds < 0 or seconds >= 86_400:
            return ""
        if seconds < 60:
            return "just now"
        return f"{duration(seconds)} ago"

    def day(self, when: date | datetime | str | None) -> str:
        """``Sun 6 Dec 2026``."""
        if when is None or when == "":
            return ""
        if isinstance(when, str):
            when = date.fromisoformat(when[:10])
        if isinstance(when, datetime):
            local = self.local(when)
            when = local.date() if local else when.date()
        return f"{when:%a} {when.day} {when:%b %Y}"

    def today(self, now: datetime | None = None) -> date:
        return (now or datetime.now(UTC)).astimezone(self.zone).date()

    def day_start(self, day: date) -> datetime:
        """Midnight of ``day`` in the site's zone, as an aware time."""
        return datetime(day.year, day.month, day.day, tzinfo=self.zone)


def duration(seconds: float | timedelta | None) -> str:
    """``45 s``, ``12 min``, ``3 h 05 min``, ``2 d 4 h``."""
    if seconds is None:
        return ""
    if isinstance(seconds, timedelta):
        seconds = seconds.total_seconds()
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


# Statuses and outcomes as a person says them. A value missing here is shown with its
# underscores as spaces, so a new status still reads as words.
WORDS: dict[str, str] = {
    # items and trays
    "sterile": "sterile",
    "in_use": "in use",
    "used": "used",
    "dirty": "used, to reprocess",
    "repair": "sent for repair",
    "processing": "being processed",
    "quarantined": "quarantined",
    # a tray's stage on the board
    "returned": "returned, to reprocess",
    "assembled": "assembled",
    "in_load": "in a load",
    "on_shelf": "sterile on the shelf",
    "never_seen": "not yet scanned",
    # loads
    "open": "running",
    "released": "released",
    "failed": "failed",
    "cancelled": "cancelled",
    "pass": "passed",
    "fail": "failed",
    # checklists and cases
    "complete": "complete",
    "short": "closed short",
    "scheduled": "scheduled",
    "in_progress": "in progress",
    "done": "done",
    "closed": "closed",
    # assets
    "available": "available",
    "on_loan": "on loan",
    "needs_cleaning": "needs cleaning",
    "maintenance": "in maintenance",
    "out_of_service": "out of service",
    "retired": "retired",
    "in_service": "in service",
    # fleet
    "online": "online",
    "offline": "offline",
    "stopped": "stopped",
    "broker_offline": "broker offline",
    # hubs (hub/cluster/leadership.py)
    "leader": "leading: projects the records and runs the checks",
    "follower": "taking scans and serving pages",
    # a station's storage (agent/outbox.py): what happened, and what the station did
    "outbox_renumbered": "storage restored or replaced: scans re-sent under a new numbering",
    "outbox_renumber_failed": "storage restored or replaced, scans not re-sent yet: check disk",
    "store_corrupt_recovered": "storage was corrupt: set aside, readable scans re-sent",
    "store_full": "storage full: the station refuses scans until space is freed",
    "reference_stale": "site lists out of date: the station cannot fetch them from the hub",
    "sterilizer_readings_lost": "sterilizer lines not kept: the station's storage refused "
    "them; check its disk, then review the load's record",
    # a station's link to the broker (agent/mqtt.py), last known: sent once it connects again
    "broker_refused": "the broker refused scans: check the station's access (ACL)",
    "broker_login_refused": "the broker refused the station's login: re-provision it",
    "broker_certificate_not_yet_valid": (
        "the broker's certificate is not valid yet: check the station's and the hub's clocks"
    ),
    "broker_certificate_expired": "the broker's certificate has expired: renew it on the hub",
    "broker_certificate_untrusted": (
        "the broker's certificate is not the site's: check the station's CA file"
    ),
    # severities
    "high": "high",
    "medium": "medium",
    "low": "low",
}


TAG = re.compile(r"<[^>]+>")


def plain(html: str) -> str:
    """Rendered words without their tags, for a CSV cell."""
    return html_unescape(TAG.sub("", html))


CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(text: str) -> str:
    """A cell a spreadsheet shows as text, never runs as a formula (OWASP CSV injection)."""
    return "'" + text if text.startswith(CSV_FORMULA_START) else text


def word(value: str | None) -> str:
    if not value:
        return ""
    return WORDS.get(value, value.replace("_", " "))


@dataclass(frozen=True)
class AlertGuide:
    """What a person reads for one kind of alert: its title and what to do next."""

    title: str
    next_step: str


# Every kind the hub raises. The next step is the site's default; [site] instructions in
# hub.toml replaces it per kind with the department's own procedure.
ALERT_GUIDES: dict[str, AlertGuide] = {
    AlertKind.UNSAFE_USE: AlertGuide(
        "Instrument used from an unsafe load",
        "Tell the surgical team and infection prevention now; keep the instrument aside "
        "and open the load's recall.",
    ),
    AlertKind.BLOCKED_USE: AlertGuide(
        "Station stopped an unsafe instrument",
        "Check that the instrument went back to sterile processing; no patient was reached.",
    ),
    AlertKind.BI_FAILED: AlertGuide(
        "Biological indicator failed",
        "Open the recall: pull every listed item still on the shelf, tell the teams of the "
        "listed cases, and take the sterilizer out of use until it passes a test.",
    ),
    AlertKind.BI_EXPIRED: AlertGuide(
        "Expired biological indicator used",
        "Run the load's test again with an indicator in date before releasing it.",
    ),
    AlertKind.BOWIE_DICK_MISSING: AlertGuide(
        "No Bowie-Dick test today",
        "Run the Bowie-Dick test on this sterilizer before its next load.",
    ),
    AlertKind.SAME_PERSON_RELEASE: AlertGuide(
        "Load released by the person who ran it",
        "Have a second person check and release the load.",
    ),
    AlertKind.TRAY_SHORT: AlertGuide(
        "Tray closed short",
        "Find or replace the missing instruments, then assemble the tray again.",
    ),
    AlertKind.CASE_NOT_READY: AlertGuide(
        "Case not ready",
        "Prepare or swap the listed trays before the case starts, or tell the theatre.",
    ),
    AlertKind.RETURN_WITHOUT_USE: AlertGuide(
        "Returned without a recorded use",
        "Check with the theatre whether the instrument was used, and reprocess it.",
    ),
    AlertKind.IMPOSSIBLE_SEQUENCE: AlertGuide(
        "Scans out of order",
        "Check the station's scans: a step was skipped or repeated.",
    ),
    AlertKind.UNREGISTERED_CODE: AlertGuide(
        "Unregistered code scanned",
        "Add the code to the reference data, or relabel the item.",
    ),
    AlertKind.INSPECTION_OVERDUE: AlertGuide(
        "Inspection overdue", "Send the asset to clinical engineering for inspection."
    ),
    AlertKind.LOAN_OVERDUE: AlertGuide(
        "Loan overdue", "Ask the ward to return the equipment, or extend the loan."
    ),
    AlertKind.PHYSICAL_FAILED: AlertGuide(
        "Sterilizer's record failed a load",
        "Do not release the load: keep its contents quarantined, reprocess them, and have "
        "the sterilizer checked if it happens again. The load page shows the record.",
    ),
    AlertKind.SIGNIN_FLOOD: AlertGuide(
        "Many failed sign-ins",
        "Someone may be guessing passwords: tell the hub's administrator, and check who "
        "was trying from that address or as that person.",
    ),
    AlertKind.CLOCK_SKEW: AlertGuide(
        "Station clock is off", "Check the station's network time; its scan times are corrected."
    ),
    AlertKind.CLOCK_UNSYNCED: AlertGuide(
        "Station clock not synchronised",
        "Check the station's network time; until it syncs, its scan times may be off.",
    ),
    AlertKind.GAP_OPEN: AlertGuide(
        "Scans missing from a station",
        "Check the station is running; its missing scans hold back the ones after them.",
    ),
    AlertKind.SEQ_CONFLICT: AlertGuide(
        "Station sent a scan twice with different contents",
        "Call the hub operator: the station's storage may have been replaced or copied.",
    ),
    AlertKind.SPOOFED_SENDER: AlertGuide(
        "Message sent in another station's name",
        "Call the hub operator: a device on the network is posing as a station.",
    ),
    AlertKind.RECONCILE_FAILED: AlertGuide(
        "Scan could not be applied",
        "Call the hub operator: the scan is kept and can be applied again once fixed.",
    ),
}


def guide(kind: str, instructions: dict[str, str] | None = None) -> AlertGuide:
    known = ALERT_GUIDES.get(kind, AlertGuide(kind.replace("_", " ").capitalize(), ""))
    if instructions and kind in instructions:
        return AlertGuide(known.title, instructions[kind])
    return known
