"""A sterilizer cycle's physical record judged against its cycle type (hub/domain/
cycle_record.py): generated cycles at a reading a second, as the sterilizer prints them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from hub.domain.cycle_record import (
    DEFAULT_CYCLE_TYPES,
    CycleType,
    LoadWindow,
    Reading,
    judge,
    load_for,
    parameters_for,
)
from protocol.sterilizer import Phase

START = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)
PREVAC = DEFAULT_CYCLE_TYPES["prevac-132"]


def cycle(
    exposure_s: int = 270,
    temperature: float = 133.5,
    dip: tuple[int, int] | None = None,
    gap: tuple[int, int] | None = None,
    end: Phase = Phase.COMPLETE,
    pressure: float = 210.0,
) -> list[Reading]:
    """A cycle a reading a second: 60 s conditioning, ``exposure_s`` of exposure at
    ``temperature`` (with ``dip``: from second a, b seconds at 130 °C; with ``gap``: from
    second a, b seconds with no reading), 60 s exhaust and dry, then ``end``."""
    out: list[Reading] = []
    t = 0

    def add(phase: Phase, temperature_c: float, kpa: float = pressure) -> None:
        out.append(Reading(START + timedelta(seconds=t), phase, temperature_c, kpa))

    for _ in range(60):
        add(Phase.CONDITIONING, 100.0, 120.0)
        t += 1
    for second in range(exposure_s):
        dipped = dip is not None and dip[0] <= second < dip[0] + dip[1]
        missing = gap is not None and gap[0] <= second < gap[0] + gap[1]
        if not missing:
            add(Phase.EXPOSURE, 130.0 if dipped else temperature)
        t += 1
    if end is Phase.ABORTED:
        add(Phase.ABORTED, 110.0, 101.0)
        return out
    for phase in (Phase.EXHAUST, Phase.DRY):
        for _ in range(30):
            add(phase, 90.0, 60.0)
            t += 1
    add(end, 60.0, 101.0)
    return out


def test_a_good_prevacuum_cycle_passes_with_the_figures_a_reviewer_signs() -> None:
    """Four and a half minutes at 133.5 °C against 132 °C for 4 min: passed, exposure held
    for the whole phase, minimum and maximum temperature of the exposure."""
    verdict = judge(cycle(), PREVAC)
    assert verdict.passed and verdict.reasons == ()
    assert verdict.exposure_held_s == 269  # first to last reading of 270, a second apart
    assert (verdict.exposure_min_c, verdict.exposure_max_c) == (133.5, 133.5)
    assert verdict.completed and not verdict.aborted


def test_a_twenty_second_dip_below_the_set_point_fails_the_load() -> None:
    """The exposure drops to 130 °C for 20 s in the middle: neither side is held for 4 min,
    and the reason says how long it was held and what was needed."""
    verdict = judge(cycle(dip=(130, 20)), PREVAC)
    assert not verdict.passed
    assert verdict.exposure_held_s < 240
    assert verdict.reasons == ("exposure held at 132 °C or above for 2 min 9 s; 4 min needed",)
    assert verdict.exposure_min_c == 130.0


def test_an_aborted_cycle_fails_and_says_so() -> None:
    verdict = judge(cycle(exposure_s=100, end=Phase.ABORTED), PREVAC)
    assert not verdict.passed and verdict.aborted
    assert verdict.reasons[0] == "the sterilizer aborted the cycle"


def test_a_gap_in_exposure_fails_the_load_even_if_the_time_adds_up() -> None:
    """The cable out for 25 s mid-exposure: the held time on either side may be long enough
    in total, but the record cannot show the load was held through the gap."""
    verdict = judge(cycle(exposure_s=600, gap=(100, 25)), PREVAC)
    assert not verdict.passed
    assert "no reading for 26 s during exposure: the record has a gap" in verdict.reasons
    assert verdict.longest_gap_s == 26


def test_pressure_outside_the_cycle_types_range_fails_and_names_the_worst() -> None:
    bounded = CycleType("prevac-132", 132.0, 240, pressure_kpa=(190.0, 230.0))
    verdict = judge(cycle(pressure=185.0), bounded)
    assert verdict.reasons == ("pressure 185 kPa during exposure, outside 190–230 kPa",)


def test_a_record_without_exposure_or_completion_fails() -> None:
    assert judge([], PREVAC).reasons == (
        "the record does not show the cycle completing",
        "no exposure phase was recorded",
    )


@given(
    exposure_s=st.integers(min_value=1, max_value=600),
    temperature=st.floats(min_value=120, max_value=140),
    dip=st.none() | st.tuples(st.integers(0, 600), st.integers(1, 60)),
)
def test_a_load_passes_exactly_when_it_was_held_long_enough_at_temperature(
    exposure_s: int, temperature: float, dip: tuple[int, int] | None
) -> None:
    """Whatever the exposure's length, temperature and dip: the held time never exceeds
    the phase, and a completed cycle with no gap passes exactly when it held 4 min."""
    verdict = judge(cycle(exposure_s, temperature, dip=dip), PREVAC)
    assert 0 <= verdict.exposure_held_s <= exposure_s - 1
    assert verdict.passed == (verdict.exposure_held_s >= PREVAC.exposure_s)
    if temperature < PREVAC.set_c:
        assert verdict.exposure_held_s == 0 and not verdict.passed


def _window(
    session: str, started: str, completed: str | None, number: str | None = None
) -> LoadWindow:
    return LoadWindow(session, started, completed, number, cancelled=False)


def test_a_cycle_belongs_to_the_load_with_its_number_else_the_one_open_when_it_started() -> None:
    """Rule 5: the number decides first; without one, the load open on the sterilizer at
    the cycle's start (the newest of those), never one closed before it or opened after."""
    loads = [
        _window("closed-before", "2026-12-01T07:00", "2026-12-01T07:30"),
        _window("open-then", "2026-12-01T08:00", "2026-12-01T09:00"),
        _window("numbered", "2026-12-01T06:00", "2026-12-01T06:40", number="1042"),
        _window("opened-after", "2026-12-01T08:30", None),
    ]
    assert load_for("2026-12-01T08:10", "1042", loads) == "numbered"
    assert load_for("2026-12-01T08:10", None, loads) == "open-then"
    assert load_for("2026-12-01T08:10", "9", loads) == "open-then"
    assert load_for("2026-12-01T07:45", None, loads) is None


def test_the_cycle_type_is_the_loads_else_the_sterilizers_only_one_and_its_own_parameters() -> None:
    """Rule 6: the load's type with the sterilizer's own parameters over ST79's; with no
    type, the sterilizer's only one; otherwise a reason that says what to set."""
    own = {"PREVAC": {"set_c": 134, "exposure_min": 3.5, "pressure_kpa": [290, 320]}}
    assert parameters_for("prevac", ["prevac"], own) == CycleType(
        "prevac", 134.0, 210.0, (290.0, 320.0)
    )
    assert parameters_for(None, ["gravity"], {}) == DEFAULT_CYCLE_TYPES["gravity"]
    assert "names no cycle type" in str(parameters_for(None, ["prevac", "gravity"], {}))
    assert "has no parameters" in str(parameters_for("flash", [], {}))
