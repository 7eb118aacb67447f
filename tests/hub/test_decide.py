"""``decide(scan, view)``: every change one scan makes, alerts included, from the scan and the
typed view the edge read for it. Pure: no database."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

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
from hub.domain.containment import contents_outcome, has_outcome, supersedes
from hub.domain.facts import (
    CycleFacts,
    CycleState,
    DayFacts,
    ItemFacts,
    LoadFacts,
    Scan,
    SessionView,
    TrayFacts,
    View,
)
from hub.domain.rules import NEXT_CASE, decide
from protocol.vocabulary import AssetStatus

AT = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
LOAD = SessionView("load-1", "load", "site:STE-A1", "open", operator="site:USR-ANA")
TRAY = SessionView("tray-1", "tray", "site:TRY-7", "open")
CASE = SessionView("case-1", "case", "site:CASE-1", "open")
MOVE = SessionView("move-1", "move", "site:AST-1", "open", members=("site:AST-1", "site:AST-2"))
PATIENT = SessionView("pat-1", "patient", "site:PAT-9", "open")


def _scan(
    action: str | None, code: str | None = None, kind: str | None = None, **kw: object
) -> Scan:
    fields: dict[str, object] = {"session_id": "load-1", **kw}
    return Scan("k5", AT, "pi-1", kind, code, True, action, **fields)  # type: ignore[arg-type]


def _alerts(changes: list[Change]) -> list[tuple[str, str]]:
    return [(c.severity, c.kind) for c in changes if isinstance(c, Alert)]


@pytest.mark.parametrize(
    ("scan", "view"),
    [
        (_scan("add", "site:INS-1", "instrument"), View()),  # no session was opened
        (_scan("add", "site:INS-1", "instrument"), View(replace(LOAD, status="closed"))),
        (_scan("close", target="pass"), View(replace(LOAD, status="cancelled"))),
        (_scan("close", target=None), View(LOAD)),  # a load closed with no result
        (_scan("close", session_id="move-1", target=None), View(MOVE)),  # no location
        (_scan("open", "site:TRY-7", "tray", session_id=None), View()),  # no session id
        (_scan("bi_result", target=None, condition="fail"), View()),  # names no cycle
        (_scan("bi_label", "gs1:01:1", "product", lot=None, expiry="271231"), View(LOAD)),
        (_scan("bi_label", "gs1:01:1", "product", lot="L7", expiry="271399"), View(LOAD)),
        (_scan("add", "site:AST-1", "asset"), View(LOAD)),  # an asset is not sterilized
        (_scan("use", "site:INS-1", "instrument"), View(TRAY)),  # a use at the tray bench
        (_scan("loan", "site:INS-1", "instrument"), View(PATIENT)),  # only assets are lent
        (_scan("asset_status", "site:AST-1", "asset", target="melted"), View()),
        (_scan("inspection", "site:AST-1", "asset", target="maybe"), View()),
        (_scan("exposure", target=None), View(LOAD)),  # a load field with no value
        (_scan("cycle_number", target="7"), View(TRAY)),  # a load field outside a load
    ],
)
def test_each_impossible_sequence_changes_nothing_and_raises_one_medium_alert(
    scan: Scan, view: View
) -> None:
    """A scan that makes no sense where it was taken changes no record: one alert."""
    assert _alerts(decide(scan, view)) == [("medium", "impossible_sequence")]
    assert len(decide(scan, view)) == 1


def test_a_use_the_station_blocked_changes_nothing_and_raises_a_high_alert() -> None:
    """A use refused from the station's snapshot is an attempt worth a person's attention."""
    scan = replace(_scan("use", "site:INS-1", "instrument"), kept=False, blocked=True)
    assert _alerts(decide(scan, View(CASE))) == [("high", "blocked_use")]


def test_a_refused_scan_changes_nothing() -> None:
    """A scan the station did not keep stays in the log and decides nothing."""
    scan = replace(_scan("add", "site:INS-1", "instrument"), kept=False)
    assert decide(scan, View(LOAD)) == []


def test_a_sterilizer_label_opens_a_load_named_by_the_sterilizer() -> None:
    """``STE-A1.7`` opens a load whose key is the sterilizer, not the cycle label."""
    scan = _scan("open", "site:STE-A1.7", "sterilizer", session_kind="load")
    assert decide(scan, View()) == [OpenSession("load-1", "load", "site:STE-A1")]


def test_an_item_added_to_a_load_or_tray_is_collected_there() -> None:
    """An add in a load or an assembly collects the item under the session's key."""
    scan = _scan("add", "site:INS-1", "instrument")
    assert decide(scan, View(LOAD)) == [
        AddItem("load-1", "load", "add", "site:INS-1", "instrument", "site:STE-A1")
    ]
    tray = replace(scan, session_id="tray-1")
    assert decide(tray, View(TRAY)) == [
        AddItem("tray-1", "tray", "add", "site:INS-1", "instrument", "site:TRY-7")
    ]


# -- rule 5: loads ------------------------------------------------------------------------


def _cycle(
    sid: str, cycle_type: str | None, started: str, completed: str | None = None
) -> CycleFacts:
    return CycleFacts(sid, cycle_type, started, completed, "pass" if completed else None, False)


def _close_load(day: DayFacts | None) -> list[Change]:
    return decide(_scan("close", target="pass", operator="site:USR-ANA"), View(LOAD, day=day))


def test_the_days_first_prevac_load_with_no_bowie_dick_closes_with_a_high_alert() -> None:
    """A prevacuum sterilizer's first load of the day, no Bowie-Dick before it: the close
    is recorded and a high alert names the load and the day."""
    day = DayFacts(_cycle("load-1", "prevac", "2026-11-20T08|a"), (), prevac=True)
    changes = _close_load(day)
    assert changes[0] == CloseSession("load-1", "load", "pass")
    (alert,) = [c for c in changes if isinstance(c, Alert)]
    assert alert.kind == "bowie_dick_missing" and alert.severity == "high"
    assert "load-1" in alert.detail and "2026-11-20" in alert.detail


def test_a_passing_bowie_dick_earlier_that_day_clears_the_first_load() -> None:
    """The day's Bowie-Dick passed before the load started: no alert."""
    test = _cycle("bd-1", "bowie-dick", "2026-11-20T06|a", "2026-11-20T07|a")
    day = DayFacts(_cycle("load-1", "prevac", "2026-11-20T08|a"), (test,), prevac=True)
    assert _alerts(_close_load(day)) == []


def test_a_gravity_load_and_a_load_closed_without_day_facts_raise_no_bowie_dick_alert() -> None:
    """Only a prevacuum sterilizer needs the test; with no day read, nothing is claimed."""
    day = DayFacts(_cycle("load-1", "gravity", "2026-11-20T08|a"), (), prevac=False)
    assert _alerts(_close_load(day)) == []
    assert _alerts(_close_load(None)) == []


def test_a_failed_bi_records_the_result_and_raises_a_high_alert_naming_the_load() -> None:
    """A failed BI starts a recall: its alert names its cycle label, the recall's key."""
    scan = _scan("bi_result", target="site:STE-A1.7", condition="fail", session_id=None)
    changes = decide(scan, View())
    assert changes[0] == BiResult("site:STE-A1.7", "fail")
    (alert,) = changes[1:]
    assert isinstance(alert, Alert) and (alert.severity, alert.kind) == ("high", "bi_failed")
    assert "cycle site:STE-A1.7:" in alert.detail
    passed = replace(scan, condition="pass")
    assert decide(passed, View()) == [BiResult("site:STE-A1.7", "pass")]


def test_a_bi_label_fills_the_lot_and_expiry_and_an_expired_bi_alerts() -> None:
    """The BI's GS1 (10) lot and (17) expiry go on the load; one expired before the scan
    raises a high alert."""
    scan = _scan("bi_label", "gs1:01:1", "product", lot="L7", expiry="271231")
    assert decide(scan, View(LOAD)) == [
        CycleField("load-1", "bi_lot", "L7"),
        CycleField("load-1", "bi_expiry", "2027-12-31"),
    ]
    expired = replace(scan, expiry="251231")
    assert _alerts(decide(expired, View(LOAD))) == [("high", "bi_expired")]


_DONE = CycleState("pass", "k-done", AT, False, False, None, None)


@pytest.mark.parametrize(
    ("cycle", "outcome"),
    [
        (replace(_DONE, result=None, completed_key=None), []),  # still running
        (_DONE, [("sterile", "k-done")]),
        (replace(_DONE, result="fail"), [("quarantined", "k-done")]),
        (replace(_DONE, implant=True), [("quarantined", "k-done")]),  # BI pending
        (replace(_DONE, implant=True, bi_result="pass", bi_key="k-bi"), [("sterile", "k-done")]),
        (replace(_DONE, implant=True, early_release=True), [("sterile", "k-done")]),
        (
            replace(_DONE, bi_result="fail", bi_key="k-bi"),
            [("sterile", "k-done"), ("quarantined", "k-bi")],
        ),
        (
            replace(_DONE, result=None, completed_key=None, bi_result="fail", bi_key="k-bi"),
            [("quarantined", "k-bi")],
        ),
    ],
)
def test_what_a_loads_contents_take_from_it(
    cycle: CycleState, outcome: list[tuple[str, str]]
) -> None:
    """Containment: each item in a load (alone or in its tray) takes the completion's
    status (sterile; quarantined when failed or an implant waits for its BI), and a failed
    BI quarantines it at the BI's own event, so the newest fact wins whatever the order."""
    assert contents_outcome(cycle) == outcome
    assert has_outcome(cycle) == bool(outcome)


# -- rule 6: trays ------------------------------------------------------------------------


def _close_tray(scanned: tuple[str, ...]) -> list[Change]:
    facts = TrayFacts(
        "site:TRY-7", scanned, {"site:INS-2": "forceps"}, {"site:INS-1": 1, "forceps": 2}
    )
    return decide(_scan("close", session_id="tray-1"), View(TRAY, tray=facts))


def test_a_tray_closed_short_of_its_count_sheet_is_checked_and_alerts() -> None:
    """The checklist names what is missing, and a medium alert says so."""
    changes = _close_tray(("site:INS-1", "site:INS-2"))
    assert changes[:2] == [
        CloseSession("tray-1", "tray", None),
        ChecklistResult("tray-1", "site:TRY-7", 2, {"forceps": 1}, []),
    ]
    assert _alerts(changes) == [("medium", "tray_short")]


def test_a_complete_tray_is_checked_with_no_alert() -> None:
    """Every line of the count sheet filled: complete, no alert."""
    changes = _close_tray(("site:INS-1", "site:INS-2", "site:INS-2"))
    (checked,) = [c for c in changes if isinstance(c, ChecklistResult)]
    assert not checked.short and _alerts(changes) == []


# -- rule 7: point of use -----------------------------------------------------------------


def _at_case(action: str, item: ItemFacts | None, **kw: object) -> list[Change]:
    scan = _scan(action, "site:INS-1", "instrument", session_id="case-1", **kw)
    return decide(scan, View(CASE, item=item))


@pytest.mark.parametrize("status", ["failed", "quarantined", "open", "cancelled"])
def test_a_use_from_a_load_not_released_is_logged_with_a_high_alert_naming_the_load(
    status: str,
) -> None:
    """The use is recorded (it happened) and raises unsafe_use naming load and sterilizer."""
    load = LoadFacts("load-9", "site:STE-A1", status)
    changes = _at_case("use", ItemFacts("sterile", load))
    assert changes[0] == AddItem("case-1", "case", "use", "site:INS-1", "instrument", "site:CASE-1")
    (alert,) = changes[1:]
    assert isinstance(alert, Alert) and (alert.severity, alert.kind) == ("high", "unsafe_use")
    assert "load-9" in alert.detail and "site:STE-A1" in alert.detail


def test_a_use_from_a_released_load_or_of_an_item_never_seen_raises_nothing() -> None:
    """A sterile item from a released load, or one the hub never saw: just the use."""
    released = ItemFacts("sterile", LoadFacts("load-9", "site:STE-A1", "released"))
    assert _alerts(_at_case("use", released)) == []
    assert _alerts(_at_case("use", None)) == []


def test_a_quarantined_item_used_alone_raises_unsafe_use() -> None:
    """An item quarantined by containment or a BI alerts even with no load in view."""
    assert _alerts(_at_case("use", ItemFacts("quarantined", None))) == [("high", "unsafe_use")]


def test_a_return_with_no_use_in_the_case_is_logged_with_a_low_alert() -> None:
    """A return is recorded either way; with no use before it in the case, a low alert."""
    unused = _at_case("return", ItemFacts("sterile", None, used_in_case=False), condition="ok")
    assert isinstance(unused[0], AddItem) and unused[0].condition == "ok"
    assert _alerts(unused) == [("low", "return_without_use")]
    used = _at_case("return", ItemFacts("in_use", None, used_in_case=True), condition="ok")
    assert _alerts(used) == []


def test_the_next_case_closes_the_case_the_station_still_had_open() -> None:
    """Opening a case closes the station's open case as next_case; a closed one stays."""
    scan = _scan("open", "site:CASE-2", "case", session_id="case-2", session_kind="case")
    assert decide(scan, View(replaced=CASE)) == [
        CloseSession("case-1", "case", NEXT_CASE),
        OpenSession("case-2", "case", "site:CASE-2"),
    ]
    closed = replace(CASE, status="closed")
    assert decide(scan, View(replaced=closed)) == [OpenSession("case-2", "case", "site:CASE-2")]


def test_done_closes_the_case() -> None:
    """CMD-DONE at the OR closes the open case."""
    scan = _scan("close", session_id="case-1")
    assert decide(scan, View(CASE)) == [CloseSession("case-1", "case", None)]


# -- rules 8 and 9: assets ----------------------------------------------------------------


def test_a_move_closed_at_a_location_moves_every_asset_collected() -> None:
    """The porter's move takes every asset it collected to the closing location."""
    scan = _scan("close", session_id="move-1", target="site:LOC-ICU")
    assert decide(scan, View(MOVE)) == [
        CloseSession("move-1", "move", "site:LOC-ICU"),
        MoveAssets(("site:AST-1", "site:AST-2"), "site:LOC-ICU"),
    ]


@pytest.mark.parametrize("status", sorted(AssetStatus))
def test_each_asset_status_is_set_by_its_command(status: str) -> None:
    """Every asset status the vocabulary names is an equipment event of the asset."""
    scan = _scan("asset_status", "site:AST-1", "asset", session_id=None, target=status)
    assert decide(scan, View()) == [EquipmentEvent("site:AST-1", status, None)]


def test_an_inspection_is_recorded_and_a_failed_one_takes_the_asset_out_of_service() -> None:
    """A pass is an inspection; a fail also sets the asset out of service."""
    scan = _scan("inspection", "site:AST-1", "asset", session_id=None, target="pass")
    assert decide(scan, View()) == [Inspection("site:AST-1", "pass")]
    failed = decide(replace(scan, target="fail"), View())
    assert failed == [
        Inspection("site:AST-1", "fail"),
        EquipmentEvent("site:AST-1", AssetStatus.OUT_OF_SERVICE, None),
    ]


def test_a_loan_lends_the_asset_to_the_patient_and_its_return_needs_no_session() -> None:
    """A loan names the patient; a return or cleaning with no patient open still counts."""
    loan = _scan("loan", "site:AST-1", "asset", session_id="pat-1")
    assert decide(loan, View(PATIENT))[1] == EquipmentEvent("site:AST-1", "loan", "site:PAT-9")
    back = _scan("return", "site:AST-1", "asset", session_id=None)
    assert decide(back, View()) == [EquipmentEvent("site:AST-1", "return", None)]
    cleaned = _scan("cleaned", "site:AST-1", "asset", session_id=None)
    assert decide(cleaned, View()) == [EquipmentEvent("site:AST-1", "cleaned", None)]


def test_cancel_marks_the_open_session_cancelled() -> None:
    """CMD-CANCEL ends the session; what it collected stays as history."""
    assert decide(_scan("cancel"), View(LOAD)) == [CancelSession("load-1", "load")]


# -- rule 4: the newest fact wins ---------------------------------------------------------


def test_only_a_newer_fact_supersedes_unless_the_same_event_is_decided_again() -> None:
    """A later key replaces an earlier one; an older one never does; the same key only
    when it is decided again."""
    assert supersedes(None, "k1") and supersedes("k1", "k2")
    assert not supersedes("k2", "k1") and not supersedes("k2", "k2")
    assert supersedes("k2", "k2", again=True) and not supersedes("k3", "k2", again=True)
