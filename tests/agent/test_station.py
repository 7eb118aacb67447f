"""The station's verdict for each kind of read, before anything is committed."""

from __future__ import annotations

from agent.feedback import Outcome
from agent.station import Station
from protocol.barcodes import DEFAULT_RULES

STATION = Station("Tray bench 1", "tray_assembly", DEFAULT_RULES)


def test_known_label_is_kept_with_reading_and_context() -> None:
    """A recognised label is kept, carries the reading and the station's name and mode."""
    verdict = STATION.consider("INS-1001\r\n")
    assert verdict.outcome is Outcome.KEPT and verdict.record
    assert verdict.raw == "INS-1001"
    assert verdict.reading is not None and verdict.reading.key == "site:INS-1001"
    assert (verdict.context.station, verdict.context.mode) == ("Tray bench 1", "tray_assembly")


def test_rejected_label_is_a_bad_read_recorded_for_review() -> None:
    """A label the decoder rejects is refused but recorded with its reason."""
    verdict = STATION.consider("0109506000134353")
    assert verdict.outcome is Outcome.BAD_READ and verdict.record
    assert verdict.reading is not None and verdict.reading.warnings == ("gs1_check_failed",)
    assert "check digit" in verdict.message


def test_unknown_label_is_refused_but_recorded() -> None:
    """A label no rule knows is refused as unknown and still recorded."""
    verdict = STATION.consider("hello")
    assert verdict.outcome is Outcome.UNKNOWN_LABEL and verdict.record


def test_empty_read_is_neither_kept_nor_recorded() -> None:
    """Only line endings: nothing to keep or show."""
    verdict = STATION.consider("\r\n")
    assert verdict.outcome is Outcome.EMPTY and not verdict.record


def test_overlong_read_is_cut_to_512_and_recorded_as_bad() -> None:
    """A runaway read is refused, and what is recorded fits the wire limit."""
    verdict = STATION.consider("INS-" + "9" * 2000)
    assert verdict.outcome is Outcome.BAD_READ and len(verdict.raw) == 512
