"""A sterilizer's printed line read through a format a site configures (agent/sterilizer/
formats.py): values in °C and kPa whatever the sterilizer prints, and any other line kept
with the reason, never an exception."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.errors import ConfigError
from agent.sterilizer.formats import Line, RegexFormat, Unreadable
from protocol.sterilizer import Phase

# A line as an imagined site's sterilizer prints it: time, phase, elapsed, chamber and
# load in °F, pressure in psia, cycle number.
PATTERN = (
    r"^\d\d:\d\d:\d\d\s+(?P<phase>[A-Z ]+?)\s+(?P<elapsed>\d+:\d\d)\s+"
    r"(?P<chamber>[\d.]+)F\s+(?P<load>[\d.]+)F\s+(?P<pressure>[\d.]+)psia\s+#(?P<cycle>\d+)$"
)
PHASES = {
    "START": Phase.START,
    "COND": Phase.CONDITIONING,
    "STERILIZE": Phase.EXPOSURE,
    "EXHAUST": Phase.EXHAUST,
    "DRY": Phase.DRY,
    "COMPLETE": Phase.COMPLETE,
    "ABORT": Phase.ABORTED,
}
FORMAT = RegexFormat(PATTERN, PHASES, temperature="F", pressure="psia")


def test_a_line_in_fahrenheit_and_psia_reads_in_celsius_and_kpa() -> None:
    line = FORMAT.parse("07:12:05 STERILIZE 1:30 271.4F 270.5F 30.2psia #1042")
    assert line == Line(
        phase=Phase.EXPOSURE,
        elapsed_s=90.0,
        cycle="1042",
        load_c=132.5,
        chamber_c=133.0,
        jacket_c=None,
        pressure_kpa=208.22,
    )
    assert isinstance(line, Line) and line.temperature_c == 132.5


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("\x00\x13@@ noise on the line", "not in the sterilizer's format"),
        ("07:12:05 PREHEAT 1:30 271.4F 270.5F 30.2psia #1042", "unknown phase 'PREHEAT'"),
        ("", "not in the sterilizer's format"),
    ],
)
def test_a_line_it_cannot_read_is_kept_with_the_reason(raw: str, reason: str) -> None:
    assert FORMAT.parse(raw) == Unreadable(raw, reason)


def test_a_format_without_a_phase_or_a_temperature_is_refused_at_startup() -> None:
    with pytest.raises(ConfigError, match="needs a"):
        RegexFormat(r"(?P<load>\d+)", PHASES)
    with pytest.raises(ConfigError, match="does not compile"):
        RegexFormat(r"(?P<phase>", PHASES)


@given(st.text(max_size=200))
def test_any_line_reads_or_is_kept_never_raises(raw: str) -> None:
    """Scanner-style garbage, partial lines, anything: a reading or an Unreadable."""
    assert isinstance(FORMAT.parse(raw), (Line, Unreadable))
