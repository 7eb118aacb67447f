"""Which cycle a sterilizer's line belongs to (issue 32). Pure: the intake thread asks it
for every line and saves its state with the line, in one transaction (agent/intake.py),
so a restarted agent carries on the cycle it was in.

Rules:
1. A new cycle begins with the first line ever read; with a cycle number other than the
   current one; with a ``start`` line after anything but ``start``; and with any line but
   an end after the cycle ended (``complete`` or ``aborted``).
2. A cycle is named by the event id of its first line, so two cycles never share a name
   even when the sterilizer's counter is reset; its number, when printed, travels beside.
3. A format that prints no end (``silent_end``, e.g. the Amsco LS preset) says only
   sterilize or not: a line that is not sterilize after the exposure reads as exhaust,
   and the cycle ends when the sterilizer falls silent after that exhaust (``quiet``).
   Silence during exposure ends nothing: the cable may be out, and the next line shows
   the gap.
4. Elapsed time is the sterilizer's when it prints it, else the time since the cycle's
   first line by the sterilizer's own clock of day (wrapping at midnight).
5. An unreadable line belongs to the cycle in progress and changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace

from agent.sterilizer.formats import Line, Unreadable
from protocol.sterilizer import ENDS, Phase, SterilizerReading

DAY_S = 24 * 3600


@dataclass(frozen=True)
class Cycle:
    """The cycle in progress, as the tracker left it."""

    cycle_id: str | None = None
    number: str | None = None
    phase: Phase | None = None
    exposed: bool = False  # it has been through exposure
    clock_start_s: float | None = None  # the sterilizer's time of day at its first line

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Cycle:
        values = json.loads(text)
        phase = values.pop("phase", None)
        return cls(**values, phase=Phase(phase) if phase else None)


def follow(
    cycle: Cycle, line: Line | Unreadable, sterilizer: str, event_id: str, silent_end: bool
) -> tuple[Cycle, SterilizerReading]:
    """The reading to keep for ``line`` (read as event ``event_id``) and the cycle after it."""
    if isinstance(line, Unreadable):
        reading = SterilizerReading(
            sterilizer=sterilizer,
            cycle_id=cycle.cycle_id,
            cycle_number=cycle.number,
            unreadable=line.reason[:128],
        )
        return cycle, reading
    phase = line.phase
    if _begins(cycle, line):
        cycle = Cycle(event_id, line.cycle, None, False, line.clock_s)
    elif silent_end and phase is Phase.CONDITIONING and cycle.exposed:
        phase = Phase.EXHAUST  # rule 3
    cycle = replace(
        cycle,
        phase=phase,
        number=line.cycle or cycle.number,
        exposed=cycle.exposed or phase is Phase.EXPOSURE,
    )
    reading = SterilizerReading(
        sterilizer=sterilizer,
        cycle_id=cycle.cycle_id,
        cycle_number=cycle.number,
        phase=phase,
        elapsed_s=_elapsed(cycle, line),
        load_c=line.load_c,
        chamber_c=line.chamber_c,
        jacket_c=line.jacket_c,
        pressure_kpa=line.pressure_kpa,
    )
    return cycle, reading


def quiet(
    cycle: Cycle, sterilizer: str, silent_end: bool
) -> tuple[Cycle, SterilizerReading] | None:
    """Rule 3: the sterilizer fell silent. Ends the cycle when its format prints no end
    and the cycle is past its exposure; None when the silence means nothing."""
    ended = cycle.phase in ENDS or cycle.phase is Phase.EXPOSURE
    if not silent_end or cycle.cycle_id is None or not cycle.exposed or ended:
        return None
    cycle = replace(cycle, phase=Phase.COMPLETE)
    reading = SterilizerReading(
        sterilizer=sterilizer,
        cycle_id=cycle.cycle_id,
        cycle_number=cycle.number,
        phase=Phase.COMPLETE,
    )
    return cycle, reading


def _begins(cycle: Cycle, line: Line) -> bool:
    """Rule 1."""
    if cycle.cycle_id is None:
        return True
    if line.cycle is not None and line.cycle != cycle.number:
        return True
    if line.phase is Phase.START and cycle.phase is not Phase.START:
        return True
    return cycle.phase in ENDS and line.phase not in ENDS


def _elapsed(cycle: Cycle, line: Line) -> float | None:
    """Rule 4."""
    if line.elapsed_s is not None:
        return line.elapsed_s
    if line.clock_s is None or cycle.clock_start_s is None:
        return None
    return (line.clock_s - cycle.clock_start_s) % DAY_S
