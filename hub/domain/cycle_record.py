"""A sterilizer cycle's physical record judged against its cycle type (issue 32).

AAMI ST79 asks that every load's physical monitors (time, temperature, pressure) be
reviewed against the cycle's parameters before the load is released. Pure, like rules.py:
given the readings the sterilizer printed and the cycle type's parameters, say what a
reviewer signs off on, and whether the load's physical result passes.

Rules:
1. Exposure held is the longest run of consecutive exposure-phase readings at or above the
   set temperature with no two readings further apart than ``max_gap_s``. A dip below the
   set point ends the run: ST79 counts time at temperature, not time in the phase.
2. Readings further apart than ``max_gap_s`` during exposure, or across its start or its
   end, are a gap: the record cannot show the load was held, so the result fails (a
   cable pulled, an agent restarted).
3. Pressure, when the cycle type gives a range, is checked on every exposure reading.
4. A cycle passes when it completed, was not aborted, held exposure for the cycle type's
   time, had no gap in exposure and kept its pressure in range. Every failed check is a
   reason in words, for the alert and the station's screen.
5. A captured cycle belongs to the load of its sterilizer with its cycle number, else to
   the load that was open on its sterilizer when the cycle started (``load_for``).
6. Its cycle type is the load's; a load with none takes its sterilizer's only registered
   cycle type. The parameters are the sterilizer's own for that type, else ST79's
   defaults (``parameters_for``). A cycle whose type has no parameters cannot be judged:
   it fails, and the reason says what to set.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise

from protocol.sterilizer import Phase

MAX_GAP_S = 5.0  # sterilizers print a line a second; five missing is a gap


@dataclass(frozen=True)
class CycleType:
    """A cycle type's parameters, per sterilizer (reference data)."""

    name: str
    set_c: float  # the exposure temperature the load must be held at or above
    exposure_s: float  # for at least this long
    pressure_kpa: tuple[float, float] | None = None  # the range during exposure, if given


# ST79's common cycles; a site's sterilizers may set their own. The bare names a station
# scans (CMD-TYPE-PREVAC, CMD-TYPE-GRAVITY) mean the most common of each; a Bowie-Dick
# test runs 3.5 min at 132 °C or above.
DEFAULT_CYCLE_TYPES: Mapping[str, CycleType] = {
    t.name: t
    for t in (
        CycleType("prevac-132", 132.0, 4 * 60),
        CycleType("prevac-135", 135.0, 3 * 60),
        CycleType("gravity-121", 121.0, 30 * 60),
        CycleType("gravity-132", 132.0, 15 * 60),
        CycleType("prevac", 132.0, 4 * 60),
        CycleType("gravity", 121.0, 30 * 60),
        CycleType("bowie-dick", 132.0, 3.5 * 60),
    )
}


@dataclass(frozen=True)
class LoadWindow:
    """A load on the captured cycle's sterilizer, as attaching needs it."""

    session_id: str
    started_key: str
    completed_key: str | None
    cycle_number: str | None
    cancelled: bool


def load_for(started_key: str, cycle_number: str | None, loads: Sequence[LoadWindow]) -> str | None:
    """Rule 5: the load a cycle that started at event ``started_key`` belongs to."""
    live = [load for load in loads if not load.cancelled]
    if cycle_number is not None:
        numbered = [load for load in live if load.cycle_number == cycle_number]
        if numbered:
            return max(numbered, key=lambda load: load.started_key).session_id
    open_then = [
        load
        for load in live
        if load.started_key <= started_key
        and (load.completed_key is None or load.completed_key >= started_key)
    ]
    return max(open_then, key=lambda load: load.started_key).session_id if open_then else None


def parameters_for(
    load_type: str | None,
    registered: Sequence[str],
    own: Mapping[str, Mapping[str, object]],
) -> CycleType | str:
    """Rule 6: the cycle type to judge by, or what is missing, in words."""
    name = (load_type or "").strip().lower()
    if not name:
        kinds = [t.lower() for t in registered]
        if len(kinds) != 1:
            return "the load names no cycle type: scan CMD-TYPE-… or enter it, then review"
        name = kinds[0]
    mine = {key.lower(): value for key, value in own.items()}
    if name in mine:
        values = mine[name]
        pressure = values.get("pressure_kpa")
        return CycleType(
            name,
            float(values["set_c"]),  # type: ignore[arg-type]
            float(values["exposure_min"]) * 60,  # type: ignore[arg-type]
            (float(pressure[0]), float(pressure[1])) if pressure else None,  # type: ignore[index]
        )
    if name in DEFAULT_CYCLE_TYPES:
        return DEFAULT_CYCLE_TYPES[name]
    return f"cycle type {name!r} has no parameters: add them to the sterilizer's reference"


@dataclass(frozen=True)
class Reading:
    at: datetime
    phase: Phase
    temperature_c: float | None  # the load's probe, or the chamber's drain when no probe
    pressure_kpa: float | None = None


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reasons: tuple[str, ...]  # empty when passed
    exposure_held_s: float
    exposure_min_c: float | None
    exposure_max_c: float | None
    longest_gap_s: float  # the longest stretch without a reading during exposure
    completed: bool
    aborted: bool


def judge(readings: Sequence[Reading], cycle: CycleType, max_gap_s: float = MAX_GAP_S) -> Verdict:
    """The cycle's figures and its verdict (rules 1-4); ``readings`` in time order."""
    aborted = any(r.phase is Phase.ABORTED for r in readings)
    completed = bool(readings) and readings[-1].phase is Phase.COMPLETE
    exposure = [r for r in readings if r.phase is Phase.EXPOSURE]
    temperatures = [r.temperature_c for r in exposure if r.temperature_c is not None]
    held = _longest_held(exposure, cycle.set_c, max_gap_s)
    gap = max(
        (
            (b.at - a.at).total_seconds()
            for a, b in pairwise(readings)
            if Phase.EXPOSURE in (a.phase, b.phase)
        ),
        default=0.0,
    )
    reasons: list[str] = []
    if aborted:
        reasons.append("the sterilizer aborted the cycle")
    elif not completed:
        reasons.append("the record does not show the cycle completing")
    if not exposure:
        reasons.append("no exposure phase was recorded")
    elif held < cycle.exposure_s:
        reasons.append(
            f"exposure held at {cycle.set_c:g} °C or above for {_duration(held)}; "
            f"{_duration(cycle.exposure_s)} needed"
        )
    if gap > max_gap_s:
        reasons.append(f"no reading for {_duration(gap)} during exposure: the record has a gap")
    if cycle.pressure_kpa is not None:
        low, high = cycle.pressure_kpa
        outside = [
            r.pressure_kpa
            for r in exposure
            if r.pressure_kpa is not None and not low <= r.pressure_kpa <= high
        ]
        if outside:
            worst = max(outside, key=lambda p: max(low - p, p - high))
            reasons.append(f"pressure {worst:g} kPa during exposure, outside {low:g}–{high:g} kPa")
    return Verdict(
        passed=not reasons,
        reasons=tuple(reasons),
        exposure_held_s=held,
        exposure_min_c=min(temperatures, default=None),
        exposure_max_c=max(temperatures, default=None),
        longest_gap_s=gap,
        completed=completed,
        aborted=aborted,
    )


def _longest_held(exposure: Sequence[Reading], set_c: float, max_gap_s: float) -> float:
    """Rule 1: the longest time between the first and last of consecutive readings all at
    or above ``set_c``, none further apart than ``max_gap_s``."""
    longest = 0.0
    start: datetime | None = None
    previous: Reading | None = None
    for reading in exposure:
        hot = reading.temperature_c is not None and reading.temperature_c >= set_c
        joined = previous is not None and (reading.at - previous.at).total_seconds() <= max_gap_s
        if not hot:
            start = None
        elif start is None or not joined:
            start = reading.at
        if start is not None:
            longest = max(longest, (reading.at - start).total_seconds())
        previous = reading
    return longest


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    if not minutes:
        return f"{rest} s"
    return f"{minutes} min {rest} s" if rest else f"{minutes} min"
