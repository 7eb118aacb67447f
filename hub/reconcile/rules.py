"""Reconcile rules: what one applied scan changes in the records. Pure: no I/O, no clock.

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
   back (needs cleaning), ``cleaned`` makes it available. The equipment log of an asset is
   folded from all its events in event order.
10. ``cancel`` marks the open session cancelled; what it collected stays as history.
"""

from __future__ import annotations

import calendar
import json
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

from protocol.vocabulary import STATION_STATE_ONLY, AssetStatus

ASSET_STATUSES = frozenset(AssetStatus)

# Conditions on return that take an instrument out of service until it is inspected.
REPAIR_CONDITIONS = frozenset({"damaged", "broken", "repair", "dull", "missing_part"})
UNRELEASED = frozenset({"open", "failed", "quarantined", "cancelled"})
NEXT_CASE = "next_case"  # a case's close result when the station's next case replaced it


def utc(at: datetime) -> datetime:
    """SQLite hands timestamps back naive; they were stored as UTC."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def event_key(at: datetime, agent_id: str, incarnation: str, seq: int) -> str:
    """Sorts in event order, breaks ties the same way everywhere, names the cause scan."""
    return f"{utc(at):%Y-%m-%dT%H:%M:%S.%f}Z|{agent_id}|{incarnation}|{seq:012d}"


@dataclass(frozen=True)
class Scan:
    """One applied scan as reconcile sees it: the hub's own decoding plus the context."""

    key: str  # event key: sorts in event order and names the cause scan
    at: datetime  # event time
    agent_id: str
    kind: str | None  # the hub's decoding of raw: instrument, tray, asset, ...
    code: str | None  # the decoded key
    kept: bool
    action: str | None = None
    session_id: str | None = None
    session_kind: str | None = None
    target: str | None = None
    condition: str | None = None
    operator: str | None = None
    station: str | None = None
    lot: str | None = None  # GS1 (10), from the hub's own decoding
    expiry: str | None = None  # GS1 (17), YYMMDD
    blocked: bool = False  # the station refused a use from its reference snapshot


@dataclass(frozen=True)
class SessionView:
    session_id: str
    kind: str
    key: str
    status: str  # open|closed|cancelled
    members: tuple[str, ...] = ()  # what the session collected, for a move's close
    operator: str | None = None  # the badge logged in when it opened


@dataclass(frozen=True)
class Policy:
    """A site's choices among the rules (hub.toml ``[records]``)."""

    second_person_release: bool = False  # the releaser must not be the load's operator


DEFAULT_POLICY = Policy()

# Actions that fill in a load's record (AAMI ST79), and the cycle column each fills.
LOAD_FIELDS = {
    "cycle_number": "cycle_number",
    "cycle_type": "cycle_type",
    "exposure": "exposure_min",
    "temperature": "temperature_c",
    "ci_result": "ci_result",
    "early_release": "early_release_reason",  # entered at the hub, with its reason
}


# -- changes: what the edge writes ------------------------------------------------------------


@dataclass(frozen=True)
class OpenSession:
    session_id: str
    kind: str
    key: str


@dataclass(frozen=True)
class CloseSession:
    session_id: str
    kind: str
    result: str | None


@dataclass(frozen=True)
class CancelSession:
    session_id: str
    kind: str


@dataclass(frozen=True)
class AddItem:
    session_id: str
    kind: str  # the session's kind
    action: str  # add|use|return|loan
    item: str
    item_kind: str
    session_key: str  # the tray, case, patient... the session is about
    condition: str | None = None


@dataclass(frozen=True)
class CycleField:
    session_id: str
    name: str  # a cycles column: cycle_number, cycle_type, exposure_min, bi_lot, ...
    value: str


@dataclass(frozen=True)
class BiResult:
    label: str
    result: str


@dataclass(frozen=True)
class MoveAssets:
    assets: tuple[str, ...]
    location: str


@dataclass(frozen=True)
class EquipmentEvent:
    asset: str
    kind: str  # loan|return|cleaned, or an AssetStatus set by command
    patient: str | None


@dataclass(frozen=True)
class Inspection:
    asset: str
    result: str  # pass|fail


@dataclass(frozen=True)
class Alert:
    severity: str
    kind: str
    detail: str


Change = (
    OpenSession
    | CloseSession
    | CancelSession
    | AddItem
    | CycleField
    | BiResult
    | MoveAssets
    | EquipmentEvent
    | Inspection
    | Alert
)

_ITEM_KINDS = frozenset({"instrument", "tray", "product"})


def _blocked(scan: Scan) -> Alert:
    where = f" at {scan.station}" if scan.station else ""
    return Alert(
        "high",
        "blocked_use",
        f"{scan.code or 'an item'} was scanned for use{where} and the station blocked it "
        "(its reference snapshot marked it quarantined or from an unreleased load)",
    )


def decide(
    scan: Scan,
    session: SessionView | None,
    replaced: SessionView | None = None,
    policy: Policy = DEFAULT_POLICY,
) -> list[Change]:
    """The record changes one kept scan makes, given the session it names (if any) and,
    for a scan that opens a case, the case the station still had open (``replaced``)."""
    if scan.blocked:
        return [_blocked(scan)]
    if not scan.kept or scan.action is None:
        return []
    action = scan.action
    if action == "bi_result":
        if scan.target and scan.condition in ("pass", "fail"):
            return [BiResult(scan.target, scan.condition)]
        return [_impossible(scan, "a BI result names no cycle")]
    if action in ("asset_status", "inspection") and scan.kind == "asset" and scan.code:
        return _asset_care(scan.code, action, scan.target)
    # Equipment returns and cleaning need no open patient (docs/stations.md).
    unattached = action == "cleaned" or (action == "return" and session is None)
    if unattached and scan.kind == "asset" and scan.code and scan.session_kind in (None, "patient"):
        return [EquipmentEvent(scan.code, action, None)]
    if action == "open":
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
        return _close(scan, session, policy)
    if action == "bi_label" and session.kind == "load":
        return _bi_label(scan, session)
    if action in ("add", "use", "return", "loan") and scan.code and scan.kind:
        return _add(scan, session, action, scan.code, scan.kind)
    return [_impossible(scan, f"{action} makes no sense in a {session.kind}")]


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
        changes.append(Alert("medium", "same_person_release", detail))
    return changes


def _asset_care(asset: str, action: str, value: str | None) -> list[Change]:
    """A status set by command, or an inspection; a failed one takes the asset out of
    service until someone sets it back."""
    if action == "asset_status":
        if value not in ASSET_STATUSES:
            return [Alert("medium", "impossible_sequence", f"{asset}: no status {value!r}")]
        return [EquipmentEvent(asset, value, None)]
    if value not in ("pass", "fail"):
        return [Alert("medium", "impossible_sequence", f"{asset}: inspection {value!r}")]
    if value == "fail":
        return [Inspection(asset, value), EquipmentEvent(asset, AssetStatus.OUT_OF_SERVICE, None)]
    return [Inspection(asset, value)]


def next_inspection(at: datetime, interval_days: int | None) -> datetime | None:
    """When the next inspection falls due after one at ``at``; None with no interval."""
    return at + timedelta(days=interval_days) if interval_days else None


def _add(scan: Scan, session: SessionView, action: str, code: str, kind: str) -> list[Change]:
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
    return [change]


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
        changes.append(Alert("high", "bi_expired", detail))
    return changes


def gs1_date(yymmdd: str) -> date | None:
    """A GS1 date field (YYMMDD; day 00 is the month's last day), or None if not one.
    Years are read as 20YY: a BI or an implant label never dates from the 1900s."""
    if len(yymmdd) != 6 or not yymmdd.isdigit():
        return None
    year, month, day = 2000 + int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:])
    if not 1 <= month <= 12:
        return None
    if day == 0:
        day = calendar.monthrange(year, month)[1]
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _close(scan: Scan, session: SessionView, policy: Policy) -> list[Change]:
    if session.kind == "load" and scan.target not in ("pass", "fail"):
        return [_impossible(scan, "a load closed with no result")]
    releaser = scan.operator
    if (
        session.kind == "load"
        and scan.target == "pass"
        and policy.second_person_release
        and (releaser is None or releaser == session.operator)
    ):
        detail = (
            f"load {session.session_id} released by {releaser or 'no badge'}, not a second person"
        )
        return [
            CloseSession(session.session_id, "load", scan.target),
            Alert("medium", "same_person_release", detail),
        ]
    if session.kind == "move":
        if not scan.target:
            return [_impossible(scan, "a move closed with no location")]
        return [
            CloseSession(session.session_id, "move", scan.target),
            MoveAssets(session.members, scan.target),
        ]
    return [CloseSession(session.session_id, session.kind, scan.target)]


def _impossible(scan: Scan, what: str) -> Alert:
    return Alert("medium", "impossible_sequence", f"{what} (scan {scan.key})")


# -- folds: derived values, recomputed from everything known --------------------------------


def cycle_status(
    result: str | None,
    bi_result: str | None,
    cancelled: bool,
    implant: bool = False,
    early_release: bool = False,
) -> str:
    """ST79 release: a load is released when its cycle passed and no BI failed; a load
    holding an implant only once its BI passed (until then it stays quarantined), or when
    an early release was recorded with a reason. A failed BI quarantines it regardless."""
    if cancelled:
        return "cancelled"
    if bi_result == "fail":
        return "quarantined"
    if result is None:
        return "open"
    if result != "pass":
        return "failed"
    return "quarantined" if implant_held(implant, bi_result, early_release) else "released"


def implant_held(implant: bool, bi_result: str | None, early_release: bool) -> bool:
    """An implant load waits for its BI to pass, unless released early with a reason."""
    return implant and bi_result != "pass" and not early_release


# Cycle types (``CMD-TYPE-<t>``, lowercased) that test the sterilizer rather than process
# a load: a Bowie-Dick air-removal test, a vacuum leak test.
BOWIE_DICK = frozenset({"bowie-dick", "bowie_dick", "bd"})
TEST_CYCLES = BOWIE_DICK | {"leak", "leak-test", "leak_test"}


@dataclass(frozen=True)
class CycleFacts:
    """What the Bowie-Dick rule needs of one cycle on a sterilizer's day."""

    session_id: str
    cycle_type: str | None
    started_key: str
    completed_key: str | None
    result: str | None
    cancelled: bool


def bowie_dick_missing(load: CycleFacts, day: list[CycleFacts], prevac: bool) -> bool:
    """AAMI ST79: a prevacuum sterilizer runs a passing Bowie-Dick test each day before its
    first load. True when ``load`` is that first load (by event time, of the cycles in
    ``day``) and no Bowie-Dick test of the day passed before it started."""
    if not prevac or load.cancelled or load.cycle_type in TEST_CYCLES:
        return False
    earlier = [
        c
        for c in day
        if c.session_id != load.session_id
        and not c.cancelled
        and c.cycle_type not in TEST_CYCLES
        and c.started_key < load.started_key
    ]
    if earlier:
        return False  # the day's first load was checked already
    return not any(
        c.cycle_type in BOWIE_DICK
        and c.result == "pass"
        and c.completed_key is not None
        and c.completed_key < load.started_key
        for c in day
    )


@dataclass(frozen=True)
class LoadFacts:
    """The load an item was last put in before a use, as the use rule needs it."""

    session_id: str
    sterilizer: str
    status: str


def unsafe_use(item: str, status: str | None, load: LoadFacts | None) -> Alert | None:
    """Rule 7: an item used at the point of use whose last load before the use failed, is
    quarantined or was never released, or which is itself quarantined (``status`` is its
    status before this use)."""
    if load is not None and load.status in UNRELEASED:
        return Alert(
            "high",
            "unsafe_use",
            f"{item} used in the OR from load {load.session_id} on {load.sterilizer}, "
            f"which is {load.status}",
        )
    if status == "quarantined":
        return Alert("high", "unsafe_use", f"{item} used while quarantined")
    return None


def tray_short(tray: str, result: Checklist) -> Alert | None:
    """Rule 6: a tray closed with less than its count sheet asks for."""
    if not result.short:
        return None
    missing = ", ".join(f"{n}× {code}" for code, n in result.missing.items())
    return Alert("medium", "tray_short", f"tray {tray} closed short: {missing}")


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


def recipe_of(text: str) -> dict[str, int]:
    value = json.loads(text)
    return {str(k): int(v) for k, v in value.items()}


@dataclass(frozen=True)
class Checklist:
    count: int
    missing: dict[str, int]
    extra: list[str]

    @property
    def short(self) -> bool:
        return bool(self.missing)


def checklist(scanned: list[str], categories: dict[str, str], recipe: dict[str, int]) -> Checklist:
    """Compare scanned instruments with a count sheet whose lines name an instrument code
    or a category. A code line is filled by that code first; the rest fill category lines."""
    need = Counter(recipe)
    extra: list[str] = []
    for code in sorted(scanned):
        if need[code] > 0:
            need[code] -= 1
        elif need[categories.get(code, "")] > 0:
            need[categories[code]] -= 1
        else:
            extra.append(code)
    missing = {k: n for k, n in sorted(need.items()) if n > 0}
    return Checklist(len(scanned), missing, extra)


@dataclass(frozen=True)
class Loan:
    loan_key: str
    patient: str | None
    loaned_at: datetime
    returned_at: datetime | None = None
    cleaned_at: datetime | None = None
    lent_by: str | None = None
    due_back: datetime | None = None

    @property
    def status(self) -> str:
        if self.cleaned_at is not None:
            return "available"
        return "on_loan" if self.returned_at is None else "needs_cleaning"


@dataclass(frozen=True)
class EquipmentFold:
    loans: list[Loan] = field(default_factory=list)
    status: str = "available"
    patient: str | None = None
    status_key: str | None = None


@dataclass(frozen=True)
class EquipmentFact:
    """One equipment event of an asset, as stored."""

    key: str  # event key
    kind: str  # loan|return|cleaned, or an AssetStatus set by command
    patient: str | None
    at: datetime
    by: str | None  # the badge logged in


def fold_equipment(events: list[EquipmentFact], loan_days: int | None = None) -> EquipmentFold:
    """An asset's loans and status from its events, in event order. A return or cleaning
    with no loan before it still sets the status (it was lent before scantrail saw it); a
    status set by command holds until the next event. A loan is due back ``loan_days``
    after it began."""
    loans: list[Loan] = []
    status, patient, status_key = "available", None, None
    for fact in sorted(events, key=lambda f: f.key):
        status_key = fact.key
        if fact.kind == "loan":
            due = fact.at + timedelta(days=loan_days) if loan_days else None
            loans.append(Loan(fact.key, fact.patient, fact.at, lent_by=fact.by, due_back=due))
            status, patient = "on_loan", fact.patient
        elif fact.kind == "return":
            if loans and loans[-1].returned_at is None:
                loans[-1] = replace(loans[-1], returned_at=fact.at)
            status, patient = "needs_cleaning", None
        elif fact.kind == "cleaned":
            if loans and loans[-1].returned_at is not None and loans[-1].cleaned_at is None:
                loans[-1] = replace(loans[-1], cleaned_at=fact.at)
            status, patient = "available", None
        elif fact.kind in ASSET_STATUSES:
            status = fact.kind
            patient = patient if fact.kind == "on_loan" else None
    return EquipmentFold(loans, status, patient, status_key)


def assignment_ends(starts: list[tuple[str, datetime]]) -> dict[str, datetime | None]:
    """Each assignment (event key, started_at) ends when the next one in event order starts."""
    ordered = sorted(starts)
    return {
        key: (ordered[i + 1][1] if i + 1 < len(ordered) else None)
        for i, (key, _) in enumerate(ordered)
    }


def item_status_after(action: str, condition: str | None) -> str:
    """An item's status after a point-of-use or processing scan."""
    if action == "use":
        return "in_use"
    if action == "return":
        return "repair" if condition in REPAIR_CONDITIONS else "dirty"
    return "processing"
