"""The station state machine (DESIGN.md §5): every mode's allowed and refused transitions."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from itertools import count

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.session import Instant, StationState
from agent.station import Station, Verdict
from protocol.barcodes import DEFAULT_RULES
from protocol.vocabulary import Outcome

K, DUP, NOSESS, OPEN, HERE = (
    Outcome.KEPT,
    Outcome.DUPLICATE,
    Outcome.NO_SESSION,
    Outcome.SESSION_OPEN,
    Outcome.NOT_HERE,
)


class Desk:
    """Feeds scans through a station the way the intake thread does, one second apart."""

    def __init__(self, mode: str, **options: object) -> None:
        self.station = Station("Bench 1", mode, DEFAULT_RULES, **options)  # type: ignore[arg-type]
        self.state = self.station.initial()
        self.ids = count(1)
        self.seconds = 0.0
        self.boot = "boot-1"

    def now(self) -> Instant:
        return Instant(datetime(2026, 11, 21, tzinfo=UTC), int(self.seconds * 1e9), self.boot, True)

    def scan(self, text: str) -> Verdict:
        self.seconds += 1
        verdict = self.station.consider(self.state, text, self.now(), f"e{next(self.ids)}")
        if verdict.outcome is Outcome.KEPT:
            self.state = verdict.state
        else:
            assert verdict.state == self.station.current(self.state, self.now())
        return verdict

    def outcomes(self, *texts: str) -> list[Outcome]:
        return [self.scan(text).outcome for text in texts]


# -- reads before any session rule -------------------------------------------------------------


def test_rejected_label_is_a_bad_read_recorded_for_review() -> None:
    """A label the decoder rejects is refused but recorded with its reason."""
    verdict = Desk("tray_assembly").scan("0109506000134353")
    assert verdict.outcome is Outcome.BAD_READ and verdict.record
    assert verdict.reading is not None and verdict.reading.warnings == ("gs1_check_failed",)
    assert "check digit" in verdict.message


def test_unknown_label_is_refused_but_recorded() -> None:
    """A label no rule knows is refused as unknown and still recorded."""
    verdict = Desk("tray_assembly").scan("hello")
    assert verdict.outcome is Outcome.UNKNOWN_LABEL and verdict.record


def test_empty_read_is_neither_kept_nor_recorded() -> None:
    """Only line endings: nothing to keep or show."""
    verdict = Desk("tray_assembly").scan("\r\n")
    assert verdict.outcome is Outcome.EMPTY and not verdict.record


def test_overlong_read_is_cut_to_512_and_recorded_as_bad() -> None:
    """A runaway read is refused, and what is recorded fits the wire limit."""
    verdict = Desk("tray_assembly").scan("INS-" + "9" * 2000)
    assert verdict.outcome is Outcome.BAD_READ and len(verdict.raw) == 512


# -- sterilizer ------------------------------------------------------------------------------


def test_sterilizer_load_opens_fills_and_passes() -> None:
    """A sterilizer label opens a load, items join it, a cycle number and type are noted,
    and CMD-CYCLE-PASS closes it."""
    desk = Desk("sterilizer")
    opened = desk.scan("STE-A1")
    assert opened.context.action == "open" and opened.context.session_id == "e1"
    assert desk.outcomes("STE-A1.1142", "CMD-TYPE-PREVAC", "TRY-7", "INS-1") == [K, K, K, K]
    closed = desk.scan("CMD-CYCLE-PASS")
    assert closed.outcome is K and closed.context.action == "close"
    assert (closed.context.session_id, closed.context.target) == ("e1", "pass")
    assert desk.state.session is None


def test_sterilizer_refuses_what_does_not_fit_a_load() -> None:
    """Items with no load, a second load, a duplicate, a patient and closing nothing are refused."""
    desk = Desk("sterilizer")
    assert desk.outcomes("INS-1", "CMD-CYCLE-FAIL", "CMD-TYPE-X") == [NOSESS, NOSESS, NOSESS]
    assert desk.outcomes("STE-A1", "STE-B2", "STE-A1", "STE-B2.7") == [K, OPEN, DUP, OPEN]
    assert desk.outcomes("INS-1", "INS-1", "PAT-9", "CMD-FLY") == [
        K,
        DUP,
        HERE,
        Outcome.UNKNOWN_COMMAND,
    ]
    assert desk.scan("CMD-CYCLE-FAIL").context.target == "fail"


BI_LABEL = "]d20109501101530003102BILOT7\x1d17271231"  # GS1: (01) GTIN (10) lot (17) expiry


def test_the_load_record_is_filled_in_while_the_load_is_open() -> None:
    """Exposure, temperature, the chemical indicator and the BI's GS1 label (after
    CMD-BI-LABEL) are kept with their values while a load is open, refused with none."""
    desk = Desk("sterilizer")
    assert desk.outcomes("CMD-EXPOSURE-4", "CMD-CI-PASS", "CMD-BI-LABEL") == [NOSESS] * 3
    desk.scan("STE-A1")
    fields = [desk.scan(t) for t in ("CMD-EXPOSURE-4", "CMD-TEMP-134.5", "CMD-CI-FAIL")]
    assert [(v.outcome, v.context.action, v.context.target) for v in fields] == [
        (K, "exposure", "4"),
        (K, "temperature", "134.5"),
        (K, "ci_result", "fail"),
    ]
    assert desk.scan("CMD-TEMP-HOT").outcome is Outcome.UNKNOWN_COMMAND
    assert desk.scan("CMD-BI-LABEL").context.action == "bi_label_next"
    assert desk.scan("0109501101530003").outcome is HERE  # no lot or expiry: not a BI label
    label = desk.scan(BI_LABEL)
    assert (label.outcome, label.context.action) == (K, "bi_label")
    joined = desk.scan("0109501101530003")  # the same GTIN, no longer armed: an item
    assert (joined.outcome, joined.context.action) == (K, "add")


@pytest.mark.parametrize("mode", ["asset_move", "equipment_checkout"])
def test_an_asset_takes_a_status_or_an_inspection_from_the_command_before_it(mode: str) -> None:
    """CMD-STATUS-<S> or CMD-INSPECT-* arms; the next asset takes it instead of joining a
    move or a loan; an unknown status is refused."""
    desk = Desk(mode)
    assert desk.scan("CMD-STATUS-BROKEN").outcome is Outcome.UNKNOWN_COMMAND
    assert desk.scan("CMD-STATUS-OUT-OF-SERVICE").context.action == "status_next"
    status = desk.scan("AST-1")
    assert (status.context.action, status.context.target) == ("asset_status", "out_of_service")
    assert desk.scan("CMD-INSPECT-FAIL").context.action == "inspect_next"
    inspected = desk.scan("AST-2")
    assert (inspected.context.action, inspected.context.target) == ("inspection", "fail")
    assert desk.state.session is None  # neither opened a move nor a loan
    assert desk.scan("AST-3").context.action in ("open", "return")  # disarmed


def test_biological_indicator_needs_a_selected_cycle() -> None:
    """CMD-BI-* is refused until a cycle label is scanned, then applies to that cycle once."""
    desk = Desk("sterilizer")
    assert desk.scan("CMD-BI-PASS").outcome is NOSESS
    assert desk.scan("STE-A1.1142").context.action == "select"
    verdict = desk.scan("CMD-BI-FAIL")
    assert verdict.outcome is K and verdict.context.action == "bi_result"
    assert (verdict.context.target, verdict.context.condition) == ("site:STE-A1.1142", "fail")
    assert desk.scan("CMD-BI-PASS").outcome is NOSESS


# -- tray assembly -----------------------------------------------------------------------------


def test_tray_assembly_counts_items_and_completes() -> None:
    """A tray opens, each instrument joins once, CMD-COMPLETE closes it."""
    desk = Desk("tray_assembly")
    assert desk.outcomes("TRY-7", "INS-1", "INS-2", "INS-1") == [K, K, K, DUP]
    assert desk.state.session is not None and len(desk.state.session.items) == 3
    done = desk.scan("CMD-COMPLETE")
    assert done.context.action == "close" and "2 items" in done.message


def test_tray_assembly_refusals() -> None:
    """No tray, a second tray, an asset and completing nothing are refused; cancel clears."""
    desk = Desk("tray_assembly")
    assert desk.outcomes("INS-1", "CMD-COMPLETE", "CMD-CANCEL") == [NOSESS, NOSESS, NOSESS]
    assert desk.outcomes("TRY-7", "TRY-8", "TRY-7", "AST-1") == [K, OPEN, DUP, HERE]
    assert desk.outcomes("CMD-CANCEL", "INS-1") == [K, NOSESS]


# -- point of use --------------------------------------------------------------------------------


def test_point_of_use_uses_returns_with_condition_and_next_case_replaces() -> None:
    """Items are used in the open case; after CMD-RETURN they are returned, with a condition
    from CMD-COND-*; the next case opens its own session."""
    desk = Desk("point_of_use")
    assert desk.outcomes("INS-1", "CMD-RETURN", "CMD-DONE") == [NOSESS] * 3
    assert desk.scan("CASE-88").context.session_id == "e4"
    assert desk.scan("INS-1").context.action == "use"
    assert desk.outcomes("INS-1", "CASE-88") == [DUP, DUP]
    assert desk.outcomes("CMD-RETURN", "CMD-COND-DAMAGED") == [K, K]
    returned = desk.scan("INS-1")
    assert (returned.context.action, returned.context.condition) == ("return", "damaged")
    assert desk.scan("INS-1").outcome is DUP
    nxt = desk.scan("CASE-89")
    assert nxt.context.action == "open" and nxt.context.session_id == "e12"
    assert desk.scan("INS-1").context.condition is None
    assert desk.scan("CMD-DONE").context.action == "close"


# -- asset move ----------------------------------------------------------------------------------


def test_asset_move_takes_several_assets_to_one_location() -> None:
    """Assets gather in one move; a location closes it with the location as target."""
    desk = Desk("asset_move")
    assert desk.outcomes("LOC-ICU-3", "AST-1", "AST-2", "AST-1", "INS-1") == [
        NOSESS,
        K,
        K,
        DUP,
        HERE,
    ]
    moved = desk.scan("LOC-ICU-3")
    assert moved.context.action == "close" and moved.context.target == "site:LOC-ICU-3"
    assert "2 moved" in moved.message and desk.state.session is None


# -- equipment checkout --------------------------------------------------------------------------


def test_equipment_is_lent_returned_and_cleaned() -> None:
    """With a patient open an asset is lent; with none it is returned; CMD-CLEANED frees it."""
    desk = Desk("equipment_checkout")
    assert desk.scan("CMD-DONE").outcome is NOSESS
    assert desk.scan("PAT-5").context.action == "open"
    assert [desk.scan("AST-W3").context.action, desk.scan("AST-W3").outcome] == ["loan", DUP]
    assert desk.outcomes("PAT-5", "CMD-DONE") == [DUP, K]
    assert desk.scan("AST-W3").context.action == "return"
    assert desk.scan("CMD-CLEANED").outcome is K
    assert desk.scan("AST-W3").context.action == "cleaned"
    assert desk.scan("TRY-1").outcome is HERE


def test_return_phase_with_a_patient_open_returns_items() -> None:
    """CMD-RETURN with a patient open turns the next assets into returns from that patient."""
    desk = Desk("equipment_checkout")
    desk.outcomes("PAT-5", "AST-W3", "CMD-RETURN")
    verdict = desk.scan("AST-W3")
    assert verdict.context.action == "return" and verdict.context.session_id == "e1"


# -- badges, idle logout, modes, restart ---------------------------------------------------


def test_badge_first_station_refuses_until_a_badge_and_logs_out_when_idle() -> None:
    """A badge-first station refuses scans before a badge, stamps the operator on each scan,
    and logs out after the idle time."""
    desk = Desk("tray_assembly", badge_required=True, idle_logout_s=60)
    assert desk.scan("TRY-7").outcome is Outcome.BADGE_FIRST
    assert desk.scan("USR-42").context.operator == "site:USR-42"
    assert desk.scan("TRY-7").context.operator == "site:USR-42"
    desk.seconds += 61
    assert desk.scan("INS-1").outcome is Outcome.BADGE_FIRST
    assert desk.outcomes("USR-43", "INS-1") == [K, K]
    assert desk.outcomes("CMD-LOGOUT", "INS-2") == [K, Outcome.BADGE_FIRST]


def test_mode_change_only_where_allowed_and_with_no_session_open() -> None:
    """CMD-MODE-* is refused on a fixed station, refused with a session open, else switches."""
    assert Desk("tray_assembly").scan("CMD-MODE-STERILIZER").outcome is Outcome.NOT_ALLOWED
    desk = Desk("tray_assembly", allow_mode_change=True)
    assert desk.outcomes("TRY-1", "CMD-MODE-STERILIZER", "CMD-CANCEL") == [K, OPEN, K]
    assert desk.scan("CMD-MODE-WAREHOUSE").outcome is Outcome.UNKNOWN_COMMAND
    assert desk.scan("CMD-MODE-ASSET-MOVE").outcome is K
    assert desk.state.mode == "asset_move" and desk.scan("AST-1").context.mode == "asset_move"


def test_restart_keeps_the_session_and_a_reboot_drops_the_login() -> None:
    """The saved state round-trips through JSON; the same boot keeps the operator, another boot
    does not, and a changed configured mode starts afresh."""
    desk = Desk("tray_assembly", badge_required=True)
    desk.outcomes("USR-42", "TRY-7", "INS-1")
    assert desk.state.session is not None
    saved = StationState.from_json(desk.state.to_json(), desk.state.session.items)
    assert saved == desk.state
    assert desk.station.restore(saved, "boot-1") == saved
    rebooted = desk.station.restore(saved, "boot-2")
    assert rebooted.operator is None and rebooted.session == saved.session
    other = replace(desk.station, mode="sterilizer")
    assert other.restore(saved, "boot-1") == other.initial()


@pytest.mark.parametrize(
    "mode", ["sterilizer", "tray_assembly", "point_of_use", "asset_move", "equipment_checkout"]
)
@given(
    texts=st.lists(
        st.sampled_from(
            [
                "STE-A1",
                "STE-A1.5",
                "TRY-1",
                "INS-1",
                "INS-2",
                "CASE-1",
                "AST-1",
                "AST-2",
                "LOC-1",
                "PAT-1",
                "USR-1",
                "CMD-CYCLE-PASS",
                "CMD-BI-FAIL",
                "CMD-COMPLETE",
                "CMD-RETURN",
                "CMD-COND-BENT",
                "CMD-DONE",
                "CMD-CLEANED",
                "CMD-CANCEL",
                "CMD-LOGOUT",
                "x",
                "\r",
            ]
        ),
        max_size=30,
    )
)
def test_any_scan_sequence_keeps_the_state_consistent(mode: str, texts: list[str]) -> None:
    """Whatever is scanned, every recorded scan's context names the open session or none,
    and refused scans never change the state."""
    desk = Desk(mode)
    for text in texts:
        before = desk.state
        verdict = desk.scan(text)
        if verdict.outcome is not Outcome.KEPT:
            assert desk.state == before
        if verdict.context.session_id is not None:
            assert verdict.context.session_kind is not None
        if verdict.context.action == "open":
            assert (
                desk.state.session is not None
                and desk.state.session.id == verdict.context.session_id
            )
