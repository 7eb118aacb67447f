"""A sterilizer's own record of a cycle, as the wire speaks it (issue 32): the phases a
cycle goes through and one reading of its physical monitors.

A station beside a sterilizer reads the lines the sterilizer prints to its serial port
(agent/sterilizer/) and keeps each one as an event of its own stream, so a reading is
kept, numbered, confirmed and resent exactly like a scan. Its ``raw`` is the line as
printed; ``sterilizer`` carries what the agent read in it, in °C and kPa. Such events
travel on the ``readings`` topic (protocol/topics.py) as a ``ReadingBatch``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

# A reading's values are physical: these bounds refuse what no sterilizer prints (a
# garbled digit), and keep a spoofed payload from filling the hub with absurd numbers.
Celsius = Annotated[float, Field(ge=-50, le=400)]
Kilopascal = Annotated[float, Field(ge=0, le=1000)]
Seconds = Annotated[float, Field(ge=0, le=7 * 24 * 3600)]


class Phase(StrEnum):
    """A cycle's phases in the order a sterilizer runs them; ``aborted`` may end any."""

    START = "start"
    CONDITIONING = "conditioning"
    EXPOSURE = "exposure"
    EXHAUST = "exhaust"
    DRY = "dry"
    COMPLETE = "complete"
    ABORTED = "aborted"


ENDS = frozenset({Phase.COMPLETE, Phase.ABORTED})


class SterilizerReading(BaseModel):
    """One line of a sterilizer's record as the station read it.

    ``cycle_id`` is the station's recognition of the cycle the line belongs to: the
    sterilizer's cycle number when its format prints one, else the event id of the
    cycle's first line. ``unreadable`` says why a line could not be read (its values are
    then empty); the line is kept all the same, and counted.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    sterilizer: Annotated[str, Field(min_length=1, max_length=128)]  # its code, e.g. STE-01
    cycle_id: Annotated[str, Field(max_length=128)] | None = None
    cycle_number: Annotated[str, Field(max_length=64)] | None = None
    phase: Phase | None = None
    elapsed_s: Seconds | None = None  # the sterilizer's own clock, from the cycle's start
    load_c: Celsius | None = None
    chamber_c: Celsius | None = None
    jacket_c: Celsius | None = None
    pressure_kpa: Kilopascal | None = None
    unreadable: Annotated[str, Field(max_length=128)] | None = None
