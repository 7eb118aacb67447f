"""The words a station and the hub share: modes, session kinds, actions, outcomes, commands.

One place, so the agent's words and the hub's cannot drift apart (a station once emitted
``cleaned_next``, which the hub did not know, and every cleaning raised an alert). On the
wire they stay plain strings (StrEnum members are strings), so v1 still carries values
a newer station may add and an older hub does not know.
"""

from __future__ import annotations

from enum import StrEnum


class Mode(StrEnum):
    STERILIZER = "sterilizer"
    TRAY_ASSEMBLY = "tray_assembly"
    POINT_OF_USE = "point_of_use"
    ASSET_MOVE = "asset_move"
    EQUIPMENT_CHECKOUT = "equipment_checkout"


class SessionKind(StrEnum):
    LOAD = "load"  # a sterilizer load
    TRAY = "tray"  # a tray being assembled
    CASE = "case"  # a surgical case at the point of use
    MOVE = "move"  # assets a porter moves together
    PATIENT = "patient"  # equipment lent to a patient


SESSION_OF_MODE = {
    Mode.STERILIZER: SessionKind.LOAD,
    Mode.TRAY_ASSEMBLY: SessionKind.TRAY,
    Mode.POINT_OF_USE: SessionKind.CASE,
    Mode.ASSET_MOVE: SessionKind.MOVE,
    Mode.EQUIPMENT_CHECKOUT: SessionKind.PATIENT,
}


class Action(StrEnum):
    """What a kept scan did at the station (``ScanContext.action``)."""

    LOGIN = "login"
    LOGOUT = "logout"
    MODE = "mode"
    OPEN = "open"
    ADD = "add"
    USE = "use"
    RETURN = "return"
    LOAN = "loan"
    CLOSE = "close"
    CANCEL = "cancel"
    CYCLE_NUMBER = "cycle_number"
    CYCLE_TYPE = "cycle_type"
    SELECT = "select"  # a cycle label chosen for its BI result
    BI_RESULT = "bi_result"
    RETURN_PHASE = "return_phase"  # CMD-RETURN: the next items are returned
    CONDITION = "condition"  # CMD-COND-<c>: the condition of the next returned item
    CLEANED_NEXT = "cleaned_next"  # CMD-CLEANED: the next asset scanned was cleaned
    CLEANED = "cleaned"
    # The load record (AAMI ST79), each while a load is open:
    EXPOSURE = "exposure"  # CMD-EXPOSURE-<minutes>
    TEMPERATURE = "temperature"  # CMD-TEMP-<degrees C>
    CI_RESULT = "ci_result"  # CMD-CI-PASS / CMD-CI-FAIL: the chemical indicator
    BI_LABEL_NEXT = "bi_label_next"  # CMD-BI-LABEL: the next GS1 label is the load's BI
    BI_LABEL = "bi_label"  # the BI's GS1 label (01)(10)(17): its lot and expiry
    # Entered at the hub (POST /api/v1/loads/{label}/fields), open or closed load: the badge
    # that released it, where no one scanned CMD-CYCLE-PASS logged in.
    RELEASER = "releaser"
    # Entered at the hub: an implant load released before its BI passed; the target is why.
    EARLY_RELEASE = "early_release"
    # Assets, at an asset_move or equipment_checkout station:
    STATUS_NEXT = "status_next"  # CMD-STATUS-<S>: the next asset scanned takes status S
    ASSET_STATUS = "asset_status"  # that asset; the target is the status
    INSPECT_NEXT = "inspect_next"  # CMD-INSPECT-PASS / -FAIL: the next asset was inspected
    INSPECTION = "inspection"  # that asset; the target is pass or fail


# Actions people enter at the hub, never a station (tests/hub/test_load_fields.py).
HUB_ENTERED = frozenset({Action.RELEASER, Action.EARLY_RELEASE})

# Actions that only change the station's state: the context of later scans carries them,
# so they change no record.
STATION_STATE_ONLY = frozenset(
    {
        Action.LOGIN,
        Action.LOGOUT,
        Action.MODE,
        Action.SELECT,
        Action.RETURN_PHASE,
        Action.CONDITION,
        Action.CLEANED_NEXT,
        Action.BI_LABEL_NEXT,
        Action.STATUS_NEXT,
        Action.INSPECT_NEXT,
    }
)


class AssetStatus(StrEnum):
    """An asset's status. Each may be set by ``CMD-STATUS-<STATUS>`` (dashes for
    underscores: CMD-STATUS-OUT-OF-SERVICE); loans and returns set the loan ones too."""

    AVAILABLE = "available"
    IN_USE = "in_use"
    ON_LOAN = "on_loan"
    NEEDS_CLEANING = "needs_cleaning"
    MAINTENANCE = "maintenance"
    OUT_OF_SERVICE = "out_of_service"
    RETIRED = "retired"


class Outcome(StrEnum):
    """What the station told the person (``Reading.outcome``)."""

    KEPT = "kept"  # a good read, committed to the outbox, counted in the session
    DUPLICATE = "duplicate"  # already scanned in this session: recorded, not counted
    BADGE_FIRST = "badge_first"  # the station needs a badge before anything else
    NO_SESSION = "no_session"  # needs an open session first (e.g. an item before its tray)
    SESSION_OPEN = "session_open"  # another session must be finished or cancelled first
    NOT_HERE = "not_here"  # this kind of code means nothing in this station's mode
    NOT_ALLOWED = "not_allowed"  # e.g. CMD-MODE-* on a station that may not change mode
    UNKNOWN_COMMAND = "unknown_command"  # a CMD- label this station does not know
    BLOCKED = "blocked"  # point of use: the item must not be used; recorded, the hub alerts
    BAD_READ = "bad_read"  # the decoder rejected it: refused, recorded for review
    UNKNOWN_LABEL = "unknown_label"  # no rule knows it: refused, recorded for review
    EMPTY = "empty"  # nothing but CR/LF/TAB was read: refused, not recorded
    STORE_FULL = "store_full"  # disk budget reached: refused, nothing recorded, alarm
    STORE_ERROR = "store_error"  # the outbox failed to commit: refused


class Command(StrEnum):
    """Command barcodes, as read after ``CMD-`` (docs/stations.md has the sheet)."""

    LOGOUT = "LOGOUT"
    CANCEL = "CANCEL"
    COMPLETE = "COMPLETE"
    RETURN = "RETURN"
    DONE = "DONE"
    CLEANED = "CLEANED"
    CYCLE_PASS = "CYCLE-PASS"
    CYCLE_FAIL = "CYCLE-FAIL"
    BI_PASS = "BI-PASS"
    BI_FAIL = "BI-FAIL"
    CI_PASS = "CI-PASS"
    CI_FAIL = "CI-FAIL"
    BI_LABEL = "BI-LABEL"
    INSPECT_PASS = "INSPECT-PASS"
    INSPECT_FAIL = "INSPECT-FAIL"


# Commands that carry a value after their prefix: CMD-MODE-STERILIZER, CMD-TYPE-BD, ...
MODE_PREFIX = "MODE-"
TYPE_PREFIX = "TYPE-"
CONDITION_PREFIX = "COND-"
EXPOSURE_PREFIX = "EXPOSURE-"  # minutes, e.g. CMD-EXPOSURE-4
TEMPERATURE_PREFIX = "TEMP-"  # degrees Celsius, e.g. CMD-TEMP-134
STATUS_PREFIX = "STATUS-"  # an asset status, e.g. CMD-STATUS-MAINTENANCE


# What to print for the wall beside a station of each mode (``scantrail-hub labels
# commands``): every command the mode acts on, with what it does, in the order people
# reach for them. The values of the prefixed commands are the common ones; any other value
# works too (docs/stations.md). tests/hub/test_labels.py scans each at a station of its mode.
EVERY_STATION: tuple[tuple[str, str], ...] = (
    (f"CMD-{Command.LOGOUT}", "Log out"),
    (f"CMD-{Command.CANCEL}", "Cancel the open session"),
)
_ASSET_CARE: tuple[tuple[str, str], ...] = (
    *(
        (f"CMD-{STATUS_PREFIX}{s.upper().replace('_', '-')}", f"Next asset: {s.replace('_', ' ')}")
        for s in (
            AssetStatus.AVAILABLE,
            AssetStatus.IN_USE,
            AssetStatus.MAINTENANCE,
            AssetStatus.OUT_OF_SERVICE,
            AssetStatus.RETIRED,
        )
    ),
    (f"CMD-{Command.INSPECT_PASS}", "Next asset: inspection passed"),
    (f"CMD-{Command.INSPECT_FAIL}", "Next asset: inspection failed"),
)
COMMAND_SHEETS: dict[Mode, tuple[tuple[str, str], ...]] = {
    Mode.STERILIZER: (
        (f"CMD-{Command.CYCLE_PASS}", "Close the load: cycle passed"),
        (f"CMD-{Command.CYCLE_FAIL}", "Close the load: cycle failed"),
        (f"CMD-{TYPE_PREFIX}PREVAC", "Cycle type: prevacuum"),
        (f"CMD-{TYPE_PREFIX}GRAVITY", "Cycle type: gravity"),
        (f"CMD-{TYPE_PREFIX}BOWIE-DICK", "Cycle type: Bowie-Dick test"),
        (f"CMD-{TYPE_PREFIX}LEAK", "Cycle type: leak test"),
        (f"CMD-{EXPOSURE_PREFIX}4", "Exposure 4 minutes"),
        (f"CMD-{EXPOSURE_PREFIX}30", "Exposure 30 minutes"),
        (f"CMD-{TEMPERATURE_PREFIX}121", "Temperature 121 °C"),
        (f"CMD-{TEMPERATURE_PREFIX}134", "Temperature 134 °C"),
        (f"CMD-{Command.CI_PASS}", "Chemical indicator passed"),
        (f"CMD-{Command.CI_FAIL}", "Chemical indicator failed"),
        (f"CMD-{Command.BI_LABEL}", "Next: the biological indicator's label"),
        (f"CMD-{Command.BI_PASS}", "After a cycle label: BI passed"),
        (f"CMD-{Command.BI_FAIL}", "After a cycle label: BI failed"),
        *EVERY_STATION,
    ),
    Mode.TRAY_ASSEMBLY: ((f"CMD-{Command.COMPLETE}", "Tray complete"), *EVERY_STATION),
    Mode.POINT_OF_USE: (
        (f"CMD-{Command.DONE}", "Case done"),
        (f"CMD-{Command.RETURN}", "Next items are returned"),
        (f"CMD-{CONDITION_PREFIX}DAMAGED", "Next returned item: damaged"),
        (f"CMD-{CONDITION_PREFIX}INCOMPLETE", "Next returned item: incomplete"),
        *EVERY_STATION,
    ),
    Mode.ASSET_MOVE: (*_ASSET_CARE, *EVERY_STATION),
    Mode.EQUIPMENT_CHECKOUT: (
        (f"CMD-{Command.DONE}", "Patient done"),
        (f"CMD-{Command.RETURN}", "Next items are returned"),
        (f"CMD-{Command.CLEANED}", "Next item was cleaned"),
        *_ASSET_CARE,
        *EVERY_STATION,
    ),
}
