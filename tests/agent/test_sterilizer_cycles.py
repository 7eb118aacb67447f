"""Which cycle a sterilizer's line belongs to, as the station decides it
(agent/sterilizer/cycles.py, recorder.py): cycles begin and end by the sterilizer's
phases and numbers, survive a restart, and no line ever stops the station."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from agent.settings import SterilizerPort
from agent.sterilizer import cycles
from agent.sterilizer.formats import AmscoLsFormat, Line
from agent.sterilizer.recorder import Recorder
from chaos.sterilizer import FORMAT, cycle
from protocol.barcodes import DEFAULT_RULES
from protocol.sterilizer import Phase, SterilizerReading


def _recorder(saved: str | None = None, **port: object) -> Recorder:
    settings = {"code": "STE-A1", "path": "/dev/null", **FORMAT, **port}
    return Recorder(SterilizerPort.model_validate(settings), DEFAULT_RULES, saved)


def _read(recorder: Recorder, texts: list[str]) -> list[SterilizerReading]:
    made = []
    for n, text in enumerate(texts):
        recorder.cycle, reading = recorder.line(recorder.cycle, text, f"event-{n}")
        made.append(reading)
    return made


def test_each_cycle_is_named_by_its_first_line_and_carries_its_number() -> None:
    """Two cycles back to back: each line names its cycle by the first line's event id
    and carries the sterilizer's cycle number and its key."""
    recorder = _recorder()
    first, second = cycle(1042), cycle(1043)
    readings = _read(recorder, [line.text for line in [*first, *second]])
    assert {r.cycle_id for r in readings[: len(first)]} == {"event-0"}
    assert {r.cycle_id for r in readings[len(first) :]} == {f"event-{len(first)}"}
    assert readings[0].cycle_number == "1042" and readings[-1].cycle_number == "1043"
    assert readings[0].sterilizer == "site:STE-A1"
    assert readings[-1].phase is Phase.COMPLETE and readings[100].elapsed_s == 100.0


def test_a_restarted_station_carries_on_the_cycle_it_was_in() -> None:
    """The cycle saved with the last kept line is where a restarted station resumes: the
    lines after a restart still name the cycle begun before it."""
    before = _recorder()
    lines = [line.text for line in cycle(1042)]
    _read(before, lines[:150])
    after = _recorder(saved=before.cycle.to_json())
    assert {r.cycle_id for r in _read(after, lines[200:])} == {"event-0"}


def test_a_line_it_cannot_read_stays_in_the_cycle_and_says_why() -> None:
    recorder = _recorder()
    _read(recorder, [line.text for line in cycle(5)[:80]])
    [noise] = _read(recorder, ["\x00\x13@@ STERIL"])
    assert noise.cycle_id == "event-0" and noise.phase is None
    assert noise.unreadable == "not in the sterilizer's format"


def test_a_value_no_sterilizer_prints_makes_the_line_unreadable_not_an_error() -> None:
    """A garbled digit gives 9134 °C: the line is kept as unreadable, with the field."""
    recorder = _recorder()
    [reading] = _read(recorder, ["STERILIZE T+100s CH 9134.4C LD 134.0C P 304.0kPa CYC 5"])
    assert reading.unreadable is not None and reading.unreadable.startswith("chamber_c out of")


@given(st.lists(st.text(max_size=120), max_size=30))
def test_any_text_on_the_line_becomes_a_reading(texts: list[str]) -> None:
    """Whatever arrives on the port, each line becomes a reading of this sterilizer."""
    recorder = _recorder()
    readings = _read(recorder, texts)
    assert len(readings) == len(texts)
    assert all(r.sterilizer == "site:STE-A1" for r in readings)


def test_a_format_that_prints_no_end_ends_its_cycle_by_silence_after_exhaust() -> None:
    """Amsco LS says only sterilize or not: after exposure a ``-`` line is exhaust, and
    silence after it completes the cycle; silence in exposure ends nothing."""
    amsco = AmscoLsFormat(temperature="C", pressure="kPa")
    state = cycles.Cycle()
    lines = [
        "- 10:00:00 -50.0 100.0 130.0 90.0 100.0",
        "S 10:01:00 200.0 134.0 134.5 90.0 133.8",
    ]
    for n, text in enumerate(lines):
        state, _ = cycles.follow(state, amsco.parse(text), "site:STE-A1", f"e{n}", True)
    assert cycles.quiet(state, "site:STE-A1", True) is None  # in exposure: the cable?
    state, exhaust = cycles.follow(
        state, amsco.parse("- 10:05:30 20.0 110.0 133.0 90.0 120.0"), "site:STE-A1", "e9", True
    )
    assert exhaust.phase is Phase.EXHAUST and exhaust.elapsed_s == 330.0
    ended = cycles.quiet(state, "site:STE-A1", True)
    assert ended is not None and ended[1].phase is Phase.COMPLETE
    assert ended[1].cycle_id == "e0"


def test_the_amsco_ls_line_reads_as_its_manual_documents_it() -> None:
    """S or -, time of day with AM/PM, gauge pressure, then chamber, jacket, waste and
    load temperatures: °F and psi become °C and absolute kPa."""
    line = AmscoLsFormat().parse("S 10:15:02 PM 30.1 271.2 272.0 180.0 270.8 269.0 250.0 70.0")
    assert isinstance(line, Line)
    assert line.phase is Phase.EXPOSURE and line.clock_s == 22 * 3600 + 15 * 60 + 2
    assert (line.chamber_c, line.jacket_c, line.load_c) == (132.89, 133.33, 132.67)
    assert line.pressure_kpa == 308.86
