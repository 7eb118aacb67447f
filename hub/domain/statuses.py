"""The statuses records take, named once. The database stores their values as text; code
compares with these members, never with a quoted word, so mypy catches a typo
(``tests/test_architecture.py`` keeps ``reconcile``, ``store`` and ``web`` to them).
Session kinds and asset statuses are the wire's (``protocol/vocabulary.py``)."""

from __future__ import annotations

from enum import StrEnum

from protocol.vocabulary import AssetStatus, SessionKind

__all__ = [
    "CASE_STATUS",
    "AssetStatus",
    "ChecklistStatus",
    "CycleStatus",
    "ItemStatus",
    "SessionKind",
    "SessionStatus",
]


class SessionStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class ItemStatus(StrEnum):
    """An instrument's or tray's status (rules 5-7 in rules.py)."""

    IN_SERVICE = "in_service"  # first seen, or assembled and not yet loaded
    PROCESSING = "processing"  # in a load that has no outcome yet
    STERILE = "sterile"  # its load was released
    QUARANTINED = "quarantined"  # its load failed, or a BI failed, or an implant waits
    IN_USE = "in_use"  # used in a case
    DIRTY = "dirty"  # returned from a case
    REPAIR = "repair"  # returned damaged


class CycleStatus(StrEnum):
    """A sterilizer load's status (``rules.cycle_status``)."""

    OPEN = "open"
    RELEASED = "released"
    QUARANTINED = "quarantined"
    FAILED = "failed"
    CANCELLED = "cancelled"


class ChecklistStatus(StrEnum):
    """A tray assembly's count sheet."""

    OPEN = "open"
    COMPLETE = "complete"
    SHORT = "short"
    CANCELLED = "cancelled"


# A case's status from its newest session at a point-of-use station (docs/records.md); a
# case no station opened yet is "scheduled".
CASE_STATUS = {
    SessionStatus.OPEN: "in_progress",
    SessionStatus.CLOSED: "done",
    SessionStatus.CANCELLED: "cancelled",
}


class AlertKind(StrEnum):
    """Every kind of alert the hub raises; hub/web/wording.py ALERT_GUIDES says each one's
    title and next step (a test checks that every kind has one)."""

    UNSAFE_USE = "unsafe_use"
    BLOCKED_USE = "blocked_use"
    BI_FAILED = "bi_failed"
    BI_EXPIRED = "bi_expired"
    BOWIE_DICK_MISSING = "bowie_dick_missing"
    SAME_PERSON_RELEASE = "same_person_release"
    TRAY_SHORT = "tray_short"
    CASE_NOT_READY = "case_not_ready"
    RETURN_WITHOUT_USE = "return_without_use"
    IMPOSSIBLE_SEQUENCE = "impossible_sequence"
    UNREGISTERED_CODE = "unregistered_code"
    INSPECTION_OVERDUE = "inspection_overdue"
    LOAN_OVERDUE = "loan_overdue"
    CLOCK_SKEW = "clock_skew"
    CLOCK_UNSYNCED = "clock_unsynced"
    GAP_OPEN = "gap_open"
    SEQ_CONFLICT = "seq_conflict"
    SPOOFED_SENDER = "spoofed_sender"
    RECONCILE_FAILED = "reconcile_failed"
    SIGNIN_FLOOD = "signin_flood"
    PHYSICAL_FAILED = "physical_failed"


class Severity(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
