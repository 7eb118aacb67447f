"""How a sterilizer's serial line becomes a reading: a format named in the config.

Sterilizers print one line per reading to their printer or data-recorder port, each
maker in its own layout. A site describes its model without code: a regular expression
with named groups, the words its sterilizer prints for each phase, and its units. Every
value becomes °C and kPa here, so the hub judges every model alike
(hub/domain/cycle_record.py). A line the format cannot read is kept raw with the reason,
counted, and never dropped silently (issue 32).

Groups: ``phase`` (required); ``elapsed`` (seconds, or ``m:ss``/``h:mm:ss``); ``cycle``
(the cycle number); temperatures ``load``, ``chamber``, ``jacket`` (at least one); and
``pressure``.

One vendor's documented layout ships as a preset, ``AmscoLsFormat``: STERIS's Amsco LS
series prints once a second at 38,400 baud, 8N1 (its operator manual, 387366-389,
section 6.20): ``S`` in sterilize phase or ``-``, the time of day, AM/PM or blanks for
24-hour time, the chamber pressure (negative for vacuum), then the chamber, jacket, waste,
load 1, air detector (load 2), filter and reference temperatures.

Written by hand: no library reads sterilizer printouts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from agent.errors import ConfigError
from protocol.sterilizer import Phase

TemperatureUnit = Literal["C", "F"]
PressureUnit = Literal["kPa", "psia", "bar", "mbar", "inHg"]
_TO_KPA: Mapping[str, float] = {
    "kPa": 1.0,
    "psia": 6.894757,
    "bar": 100.0,
    "mbar": 0.1,
    "inHg": 3.386389,
}
TEMPERATURES = ("load", "chamber", "jacket")


@dataclass(frozen=True)
class Line:
    """One reading, in °C and kPa, as the sterilizer printed it."""

    phase: Phase
    elapsed_s: float | None
    cycle: str | None
    load_c: float | None
    chamber_c: float | None
    jacket_c: float | None
    pressure_kpa: float | None
    clock_s: float | None = None  # the sterilizer's time of day, when it prints no elapsed

    @property
    def temperature_c(self) -> float | None:
        """What exposure is judged by: the load's probe, else the chamber's."""
        return self.load_c if self.load_c is not None else self.chamber_c


@dataclass(frozen=True)
class Unreadable:
    raw: str
    reason: str


class RegexFormat:
    # Prints its own end (complete or aborted): a cycle never ends by silence.
    silent_end = False

    def __init__(
        self,
        pattern: str,
        phases: Mapping[str, Phase],
        temperature: TemperatureUnit = "C",
        pressure: PressureUnit = "kPa",
    ) -> None:
        """``phases``: what the sterilizer prints for each phase, matched without case."""
        try:
            self._pattern = re.compile(pattern)
        except re.error as exc:
            raise ConfigError(f"sterilizer format: the pattern does not compile: {exc}") from None
        groups = set(self._pattern.groupindex)
        if "phase" not in groups or not groups & set(TEMPERATURES):
            raise ConfigError(
                "sterilizer format: the pattern needs a (?P<phase>…) group and at least one "
                "of (?P<load>…), (?P<chamber>…), (?P<jacket>…)"
            )
        self._phases = {word.strip().lower(): phase for word, phase in phases.items()}
        self._temperature = temperature
        self._kpa = _TO_KPA[pressure]

    def parse(self, raw: str) -> Line | Unreadable:
        found = self._pattern.search(raw)
        if found is None:
            return Unreadable(raw, "not in the sterilizer's format")
        values = found.groupdict()
        phase = self._phases.get((values.get("phase") or "").strip().lower())
        if phase is None:
            return Unreadable(raw, f"unknown phase {values.get('phase')!r}")
        try:
            temperatures = {name: self._celsius(values.get(name)) for name in TEMPERATURES}
            pressure = _number(values.get("pressure"))
            elapsed = _seconds(values.get("elapsed"))
        except ValueError as exc:
            return Unreadable(raw, str(exc))
        return Line(
            phase=phase,
            elapsed_s=elapsed,
            cycle=(values.get("cycle") or "").strip() or None,
            load_c=temperatures["load"],
            chamber_c=temperatures["chamber"],
            jacket_c=temperatures["jacket"],
            pressure_kpa=round(pressure * self._kpa, 2) if pressure is not None else None,
        )

    def _celsius(self, text: str | None) -> float | None:
        value = _number(text)
        if value is None or self._temperature == "C":
            return value
        return round((value - 32) * 5 / 9, 2)


def _number(text: str | None) -> float | None:
    if text is None or not text.strip():
        return None
    try:
        return float(text.strip().replace(",", "."))
    except ValueError:
        raise ValueError(f"not a number: {text.strip()!r}") from None


def _seconds(text: str | None) -> float | None:
    """Seconds, or ``m:ss`` / ``h:mm:ss``."""
    if text is None or not text.strip():
        return None
    parts = text.strip().split(":")
    if len(parts) > 3:
        raise ValueError(f"not a time: {text.strip()!r}")
    total = 0.0
    for part in parts:
        number = _number(part)
        if number is None:
            raise ValueError(f"not a time: {text.strip()!r}")
        total = total * 60 + number
    return total


class AmscoLsFormat:
    """STERIS Amsco LS series, as its operator manual documents the serial output.

    The line says only whether the sterilizer is in its sterilize phase (``S``) or not
    (``-``), so a ``-`` reads as conditioning; the cycle tracker (cycles.py) reads one
    after exposure as exhaust, and the cycle's end as the sterilizer falling silent
    (``silent_end``). Its pressure is gauge pressure: the atmosphere is added so every
    model reports absolute kPa. Units are the sterilizer's setting."""

    silent_end = True
    ATMOSPHERE_KPA = 101.325

    def __init__(self, temperature: TemperatureUnit = "F", pressure: PressureUnit = "psia") -> None:
        self._temperature = temperature
        self._kpa = _TO_KPA[pressure]

    def parse(self, raw: str) -> Line | Unreadable:
        fields = raw.split()
        if len(fields) >= 2 and fields[2:3] and fields[2].upper() in ("AM", "PM"):
            meridiem = fields.pop(2).upper()
        else:
            meridiem = None
        if len(fields) < 4 or fields[0] not in ("S", "-", "\u2013"):
            return Unreadable(raw, "not in the Amsco LS format")
        try:
            clock = _seconds(fields[1])
            gauge = _number(fields[2])
            values = [_number(text) for text in fields[3:10]]
        except ValueError as exc:
            return Unreadable(raw, str(exc))
        if clock is None or gauge is None or not values:
            return Unreadable(raw, "not in the Amsco LS format")
        if meridiem is not None:
            clock = clock % (12 * 3600) + (12 * 3600 if meridiem == "PM" else 0)
        # Chamber, jacket, waste, load 1, ...: a short line lacks the later probes.
        chamber, jacket, _, load = [*values, None, None, None][:4]
        return Line(
            phase=Phase.EXPOSURE if fields[0] == "S" else Phase.CONDITIONING,
            elapsed_s=None,
            cycle=None,
            load_c=self._celsius(load),
            chamber_c=self._celsius(chamber),
            jacket_c=self._celsius(jacket),
            pressure_kpa=round(gauge * self._kpa + self.ATMOSPHERE_KPA, 2),
            clock_s=clock,
        )

    def _celsius(self, value: float | None) -> float | None:
        if value is None or self._temperature == "C":
            return value
        return round((value - 32) * 5 / 9, 2)


Format = RegexFormat | AmscoLsFormat
