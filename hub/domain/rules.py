"""The record rules: what one applied scan changes in the records. Pure: no I/O, no clock.

``decide(scan, view)`` returns every change, alerts included, from the scan and the typed
view (facts.py) the database edge read for it; the edge writes them (hub/reconcile/writers.py)
and decides nothing. The few rules it applies while it writes (which fact is newer, what a
load's contents take from it) are the functions at the end of this module.

The ingest worker hands scans over per agent in seq order (the inbox only applies a
contiguous range), so a session's scans always arrive in the order they were taken. Scans
from different agents may arrive in any order, late, or twice; the rules below make the
records the same whatever that order is.

Rules (DESIGN.md §5-6; docs/records.md says the same for people):
1. Only scans the station kept change records. Refused scans stay in the scan log. A use
   the station blocked from its reference snapshot changes nothing and raises a high
   ``blocked_use`` alert: someone tried to use an item that must not reach a patient.
2. The hub re-decodes ``raw`` for identities; the session structure (``action``,
   ``session_id``, ``target``, ``condition``) comes from the context the person saw.
3. A session is opened by its first scan and named by that scan's event id. A scan that
   names a session the hub never saw opened, or one already closed, changes nothing and
   raises an ``impossible_sequence`` alert (items with no open load, a cycle completed
   twice, a move with no location that was never opened).
4. Event time wins: every fact carries its event key (event time, agent, incarnation,
   seq). Where a value is "current" (an item's status or location, an asset's location
   or status, a cycle's BI result) the fact with the greatest key wins, so a late scan
   fills in history and never overwrites a newer fact.
5. sterilizer: ``open`` starts a cycle; ``add`` puts an item in the load (status
   processing); ``cycle_number`` / ``cycle_type`` fill the cycle in; ``close`` with
   target pass releases the load (its items become sterile) and with fail quarantines it;
   ``bi_result`` records a BI for the cycle label ``<sterilizer>.<number>``. A failed BI
   quarantines that cycle's items and raises a high alert naming the recall. A tray in a
   load carries the instruments of its last assembly before it went in: they take the
   load's status and outcome as the tray does (containment, docs/records.md). A load
   holding an implant stays quarantined until its BI passes. On a prevacuum sterilizer,
   the day's first load closed with no passing Bowie-Dick test before it raises an alert.
6. tray_assembly: ``open`` starts a checklist; ``add`` puts an instrument on the tray;
   ``close`` compares the items with the tray's count sheet: complete, or short (alert).
7. point_of_use: ``open`` is a case, and closes the case the station still had open (the
   next case replaces it, result ``next_case``; ``close`` is CMD-DONE); ``use`` logs an
   item against the case (status in use), and raises a high alert when the item's last
   load before the use failed, was quarantined or was never released, or the item is
   quarantined; ``return`` ends that use (status dirty; a condition other than ``ok``
   sends it to repair). A return with no use in the case is logged with no ``used_at``
   and a low alert.
8. asset_move: ``open``/``add`` collect assets; ``close`` with a location target moves
   every one of them there (an Assignment each, at the close's event time).
9. equipment_checkout: ``loan`` lends an asset to the open patient, ``return`` brings it
   back (needs cleaning), ``cleaned`` makes it available. ``asset_status`` sets any asset
   status by command (in use, maintenance, out of service, retired, ...); ``inspection``
   records a pass or a fail, and a fail sets the asset out of service. The equipment log
   of an asset is folded from all its events in event order.
10. ``cancel`` marks the open session cancelled; what it collected stays as history.
"""

from __future__ import annotations

from hub.domain.bowie_dick import bowie_dick_missing
from hub.domain.changes import (
    AddItem,
    Alert,
    BiResult,
    CancelSession,
    Change,
    ChecklistResult,
    CloseSession,
    CycleField,
    EquipmentEvent,
    Inspection,
    MoveAssets,
    OpenSession,
)
from hub.domain.facts import (
    DEFAULT_POLICY,
    DayFacts,
    ItemFacts,
    LoadFacts,
    Policy,
    Scan,
    SessionView,
    TrayFacts,
    View,
)
from hub.domain.folds import ASSET_STATUSES, Checklist, checklist, gs1_date
from hub.domain.statuses import AlertKind, CycleStatus, ItemStatus, Severity
from protocol.vocabulary import STATION_STATE_ONLY, AssetStatus

# Conditions on return that take an instrument out of service until it is inspected.
REPAIR_CONDITIONS = frozenset({"damaged", "broken", "repair", "dull", "missing_part"})
UNRELEASED = frozenset(
    {CycleStatus.OPEN, CycleStatus.FAILED, CycleStatus.QUARANTINED, CycleStatus.CANCELLED}
)
NEXT_CASE = "next_case"  # a case's close result when the station's next case replaced it

# Actions that fill in a load's record (AAMI ST79), and the cycle column each fills.
LOAD_FIELDS = {
    "cycle_number": "cycle_number",
    "cycle_type": "cycle_type",
    "exposure": "exposure_min",
    "temperature": "temperature_c",
    "ci_result": "ci_result",
    "early_release": "early_release_reason",  # entered at the hub, with its reason
}

_ITEM_KINDS = frozenset({"instrument", "tray", "product"})


def _blocked(scan: Scan) -> Alert:
    where = f" at {scan.station}" if scan.station else ""
    return Alert(
        Severity.HIGH,
        AlertKind.BLOCKED_USE,
        f"{scan.code or 'an item'} was scanned for use{where} and the station blocked it "
        "(its reference snapshot marked it quarantined or from an unreleased load)",
        scan.code,
    )


def decide(scan: Scan, view: View, policy: Policy = DEFAULT_POLICY) -> list[Change]:
    """Every record change one applied scan makes, alerts included, given the facts of
    ``view`` (which the edge read for this scan's action)."""
    if scan.blocked:
        return [_blocked(scan)]
    if not scan.kept or scan.action is None:
        return []
    action, session = scan.action, view.session
    if action == "bi_result":
        return _bi_result(scan)
    if action in ("asset_status", "inspection") and scan.kind == "asset" and scan.code:
        return _asset_care(scan.code, action, scan.target)
    # Equipment returns and cleaning need no open patient (docs/stations.md).
    unattached = action == "cleaned" or (action == "return" and session is None)
    if unattached and scan.kind == "asset" and scan.code and scan.session_kind in (None, "patient"):
        return [EquipmentEvent(scan.code, action, None)]
    if action == "open":
        return _open(scan, view.replaced)
    if action in STATION_STATE_ONLY:
        return []  # the context of later scans carries it
    if action in LOAD_FIELDS or action == "releaser":
        return _load_field(scan, session, policy)
    if session is None or session.status != "open":
        what = "never opened" if session is None else session.status
        return [_impossible(scan, f"{action} for a session that was {what}")]
    if action == "cancel":
        return [CancelSession(session.session_id, session.kind)]
    if action == "close":
        return _close(scan, session, view, policy)
    if action == "bi_label" and session.kind == "load":
        return _bi_label(scan, session)
    if action in ("add", "use", "return", "loan") and scan.code and scan.kind:
        return _add(scan, session, action, scan.code, scan.kind, view.item)
    return [_impossible(scan, f"{action} makes no sense in a {session.kind}")]


def _open(scan: Scan, replaced: SessionView | None) -> list[Change]:
    """A session opens with its first scan; a case closes the case the station had open."""
    if scan.session_id is None or scan.session_kind is None or scan.code is None:
        return [_impossible(scan, "a session opened with no id")]
    key = scan.code.rpartition(".")[0] if scan.kind == "sterilizer" else scan.code
    changes: list[Change] = []
    if scan.session_kind == "case" and replaced is not None and replaced.status == "open":
        changes.append(CloseSession(replaced.session_id, "case", NEXT_CASE))
    changes.append(OpenSession(scan.session_id, scan.session_kind, key or scan.code))
    if scan.session_kind == "move" and scan.kind == "asset":
        changes.append(AddItem(scan.session_id, "move", "add", scan.code, "asset", scan.code))
    return changes


def _bi_result(scan: Scan) -> list[Change]:
    """A BI's result for cycle label ``<sterilizer>.<number>``; a failure starts a recall."""
    label, result = scan.target, scan.condition
    if not label or result not in ("pass", "fail"):
        return [_impossible(scan, "a BI result names no cycle")]
    if result == "pass":
        return [BiResult(label, result)]
    sterilizer = label.rpartition(".")[0]
    detail = (
        f"biological indicator failed for cycle {label}: recall every load on {sterilizer} "
        "since its last passing indicator"
    )
    return [BiResult(label, result), Alert(Severity.HIGH, AlertKind.BI_FAILED, detail, label)]


def _load_field(scan: Scan, session: SessionView | None, policy: Policy) -> list[Change]:
    """A field of a load's record: scanned while the load is open, or entered at the hub
    before or after it closed (paper cycle print-outs come later). A cancelled load takes
    none. The releaser is a badge; with second-person release it must not be the operator."""
    if session is None or session.kind != "load" or session.status == "cancelled":
        where = (
            "for a load that was never opened"
            if session is None
            else f"in a {session.kind} session that is {session.status}"
        )
        return [_impossible(scan, f"{scan.action} {where}")]
    if scan.action != "releaser":
        if not scan.target:
            return [_impossible(scan, f"{scan.action} with no value")]
        return [CycleField(session.session_id, LOAD_FIELDS[scan.action or ""], scan.target)]
    if scan.kind != "staff" or scan.code is None:
        return [_impossible(scan, "a releaser that is not a staff badge")]
    changes: list[Change] = [CycleField(session.session_id, "released_by", scan.code)]
    if policy.second_person_release and scan.code == session.operator:
        detail = f"load {session.session_id} released by {scan.code}, not a second person"
        changes.append(
            Alert(Severity.MEDIUM, AlertKind.SAME_PERSON_RELEASE, detail, session.session_id)
        )
    return changes


def _asset_care(asset: str, action: str, value: str | None) -> list[Change]:
    """A status set by command, or an inspection; a failed one takes the asset out of
    service until someone sets it back."""
    if action == "asset_status":
        if value not in ASSET_STATUSES:
            return [
                Alert(
                    Severity.MEDIUM,
                    AlertKind.IMPOSSIBLE_SEQUENCE,
                    f"{asset}: no status {value!r}",
                    asset,
                )
            ]
        return [EquipmentEvent(asset, value, None)]
    if value not in ("pass", "fail"):
        return [
            Alert(
                Severity.MEDIUM,
                AlertKind.IMPOSSIBLE_SEQUENCE,
                f"{asset}: inspection {value!r}",
                asset,
            )
        ]
    if value == "fail":
        return [Inspection(asset, value), EquipmentEvent(asset, AssetStatus.OUT_OF_SERVICE, None)]
    return [Inspection(asset, value)]


def _add(
    scan: Scan, session: SessionView, action: str, code: str, kind: str, item: ItemFacts | None
) -> list[Change]:
    allowed = {
        "load": ("add", _ITEM_KINDS),
        "tray": ("add", _ITEM_KINDS),
        "case": ("use", _ITEM_KINDS),
        "move": ("add", frozenset({"asset"})),
        "patient": ("loan", frozenset({"asset"})),
    }[session.kind]
    wanted, kinds = allowed
    if session.kind == "case" and action == "return":
        wanted = "return"
    if session.kind == "patient" and action == "return":
        return [EquipmentEvent(code, "return", None)]
    if action != wanted or kind not in kinds:
        return [_impossible(scan, f"a {kind} cannot be {action} in a {session.kind}")]
    change = AddItem(
        session.session_id, session.kind, action, code, kind, session.key, scan.condition
    )
    if session.kind == "patient":
        return [change, EquipmentEvent(code, "loan", session.key)]
    if session.kind == "case":
        return [change, *_point_of_use(action, code, session.key, item)]
    return [change]


def _point_of_use(action: str, code: str, case: str, item: ItemFacts | None) -> list[Alert]:
    """Rule 7: a use is checked against what the item was before it; a return with no use
    in the case is logged, with a low alert."""
    item = item or ItemFacts(None, None)
    if action == "use":
        found = unsafe_use(code, item.status, item.load)
        return [found] if found else []
    if item.used_in_case:
        return []
    return [
        Alert(
            Severity.LOW,
            AlertKind.RETURN_WITHOUT_USE,
            f"{code} returned in case {case} with no use recorded",
            code,
        )
    ]


def _bi_label(scan: Scan, session: SessionView) -> list[Change]:
    """The BI put in the load: its lot and expiry from its GS1 label; an expired BI
    proves nothing, so it raises a high alert."""
    expiry = gs1_date(scan.expiry or "")
    if not scan.lot or expiry is None:
        return [_impossible(scan, "a BI label with no lot or no valid expiry")]
    changes: list[Change] = [
        CycleField(session.session_id, "bi_lot", scan.lot),
        CycleField(session.session_id, "bi_expiry", expiry.isoformat()),
    ]
    if expiry < scan.at.date():
        detail = f"BI lot {scan.lot} expired on {expiry} and was used in load {session.session_id}"
        changes.append(Alert(Severity.HIGH, AlertKind.BI_EXPIRED, detail, session.session_id))
    return changes


def _close(scan: Scan, session: SessionView, view: View, policy: Policy) -> list[Change]:
    if session.kind == "load":
        return _close_load(scan, session, view.day, policy)
    if session.kind == "move":
        if not scan.target:
            return [_impossible(scan, "a move closed with no location")]
        return [
            CloseSession(session.session_id, "move", scan.target),
            MoveAssets(session.members, scan.target),
        ]
    changes: list[Change] = [CloseSession(session.session_id, session.kind, scan.target)]
    if session.kind == "tray" and view.tray is not None:
        changes += _checked(session.session_id, view.tray)
    return changes


def _close_load(
    scan: Scan, session: SessionView, day: DayFacts | None, policy: Policy
) -> list[Change]:
    """Rule 5: a load closes with its result; with second-person release the releaser must
    differ from the operator; a prevacuum sterilizer's first load of the day needs a passing
    Bowie-Dick test before it."""
    if scan.target not in ("pass", "fail"):
        return [_impossible(scan, "a load closed with no result")]
    changes: list[Change] = [CloseSession(session.session_id, "load", scan.target)]
    releaser = scan.operator
    if (
        scan.target == "pass"
        and policy.second_person_release
        and (releaser is None or releaser == session.operator)
    ):
        detail = (
            f"load {session.session_id} released by {releaser or 'no badge'}, not a second person"
        )
        changes.append(
            Alert(Severity.MEDIUM, AlertKind.SAME_PERSON_RELEASE, detail, session.session_id)
        )
    if day is not None and bowie_dick_missing(day.load, list(day.earlier), day.prevac):
        detail = (
            f"load {session.session_id} on {session.key} is its first of "
            f"{day.load.started_key[:10]} and no Bowie-Dick test passed before it"
        )
        changes.append(
            Alert(Severity.HIGH, AlertKind.BOWIE_DICK_MISSING, detail, session.session_id)
        )
    return changes


def _checked(session_id: str, tray: TrayFacts) -> list[Change]:
    """Rule 6: the tray's assembly against its count sheet; short raises an alert."""
    result = checklist(list(tray.scanned), dict(tray.categories), dict(tray.recipe))
    changes: list[Change] = [
        ChecklistResult(session_id, tray.tray, result.count, result.missing, result.extra)
    ]
    if (short := tray_short(tray.tray, result)) is not None:
        changes.append(short)
    return changes


def _impossible(scan: Scan, what: str) -> Alert:
    return Alert(
        Severity.MEDIUM, AlertKind.IMPOSSIBLE_SEQUENCE, f"{what} (scan {scan.key})", scan.code
    )


# -- the rules' own folds ----------------------------------------------------------------------


def cycle_status(
    result: str | None,
    bi_result: str | None,
    cancelled: bool,
    implant: bool = False,
    early_release: bool = False,
    physical: str | None = None,
) -> str:
    """ST79 release: a load is released when its cycle passed and no BI failed; a load
    holding an implant only once its BI passed (until then it stays quarantined), or when
    an early release was recorded with a reason. A failed BI quarantines it regardless; a
    cycle the sterilizer's own record failed (``physical``) fails it, whatever the person
    closing it said, and before they close it."""
    if cancelled:
        return CycleStatus.CANCELLED
    if bi_result == "fail":
        return CycleStatus.QUARANTINED
    if physical == "fail":
        return CycleStatus.FAILED
    if result is None:
        return CycleStatus.OPEN
    if result != "pass":
        return CycleStatus.FAILED
    if implant_held(implant, bi_result, early_release):
        return CycleStatus.QUARANTINED
    return CycleStatus.RELEASED


def implant_held(implant: bool, bi_result: str | None, early_release: bool) -> bool:
    """An implant load waits for its BI to pass, unless released early with a reason."""
    return implant and bi_result != "pass" and not early_release


def released_by(result: str | None, operator: str | None) -> str | None:
    """Who released a load: whoever closed it with a pass (a failed load is released by
    nobody)."""
    return operator if result == "pass" else None


def unsafe_use(item: str, status: str | None, load: LoadFacts | None) -> Alert | None:
    """Rule 7: an item used at the point of use whose last load before the use failed, is
    quarantined or was never released, or which is itself quarantined (``status`` is its
    status before this use)."""
    if load is not None and load.status in UNRELEASED:
        return Alert(
            Severity.HIGH,
            AlertKind.UNSAFE_USE,
            f"{item} used in the OR from load {load.session_id} on {load.sterilizer}, "
            f"which is {load.status}",
            item,
        )
    if status == ItemStatus.QUARANTINED:
        return Alert(Severity.HIGH, AlertKind.UNSAFE_USE, f"{item} used while quarantined", item)
    return None


def blocked_reason(status: str, load: str | None, load_status: str | None) -> str:
    """Rule 7 as the station says it: why an item that is blocked (quarantined itself, or
    its last load ``load``, as labelled, is ``UNRELEASED``) must not be used."""
    if load is None:
        return "quarantined"
    if load_status == CycleStatus.FAILED:
        return f"its load {load} failed"
    if load_status == CycleStatus.QUARANTINED or status == ItemStatus.QUARANTINED:
        return f"quarantined with load {load}"
    if load_status == CycleStatus.CANCELLED:
        return f"its load {load} was cancelled"
    return f"its load {load} is not released yet"


def tray_short(tray: str, result: Checklist) -> Alert | None:
    """Rule 6: a tray closed with less than its count sheet asks for."""
    if not result.short:
        return None
    missing = ", ".join(f"{n}× {code}" for code, n in result.missing.items())
    return Alert(
        Severity.MEDIUM, AlertKind.TRAY_SHORT, f"tray {tray} closed short: {missing}", tray
    )


def tray_not_ready(status: str | None, load_status: str | None) -> str | None:
    """Why a tray a case needs is not ready for it, or None when it is sterile from a
    released load."""
    if status is None:
        return "has never been scanned"
    if status != "sterile":
        return f"is {status}"
    if load_status != "released":
        return f"comes from a load that is {load_status or 'unknown'}"
    return None


def item_status_after(action: str, condition: str | None) -> str:
    """An item's status after a point-of-use or processing scan."""
    if action == "use":
        return ItemStatus.IN_USE
    if action == "return":
        return ItemStatus.REPAIR if condition in REPAIR_CONDITIONS else ItemStatus.DIRTY
    return ItemStatus.PROCESSING


def unregistered(noun: str, code: str) -> Alert:
    """A code scanned that no reference import registered: recorded, and flagged once per
    code while its alert is open, not on every load or move."""
    return Alert(
        Severity.MEDIUM,
        AlertKind.UNREGISTERED_CODE,
        f"{noun} {code} is not registered",
        code,
        f"{noun}:{code}",
    )
