"""A sterilizer's lines as readings: the format named in the config reads each line, the
cycle tracker places it (cycles.py). Only the intake thread uses it, and the cycle it
holds moves only once the readings that moved it are kept (``advance``)."""

from __future__ import annotations

from pydantic import ValidationError

from agent.errors import ConfigError
from agent.settings import SterilizerPort
from agent.sterilizer import cycles
from agent.sterilizer.formats import AmscoLsFormat, Format, RegexFormat, Unreadable
from protocol.barcodes import Decoded, DecodeRules, Kind, decode
from protocol.sterilizer import SterilizerReading

META_KEY = "sterilizer_cycle"  # the cycle in progress, saved with its readings


def format_of(port: SterilizerPort) -> Format:
    if port.format == "amsco-ls":
        return AmscoLsFormat(port.temperature, port.pressure)
    return RegexFormat(port.pattern or "", port.phases, port.temperature, port.pressure)


def sterilizer_key(code: str, rules: DecodeRules) -> str:
    """The sterilizer's key as the hub knows it: its label decoded with the site's rules."""
    decoded = decode(code, rules=rules)
    if not isinstance(decoded, Decoded) or decoded.kind is not Kind.STERILIZER:
        raise ConfigError(f"sterilizer.code {code!r} is not a sterilizer's label (STE-...)")
    return decoded.key


class Recorder:
    def __init__(self, port: SterilizerPort, rules: DecodeRules, saved: str | None) -> None:
        self.source_id = port.id
        self.key = sterilizer_key(port.code, rules)
        self._format = format_of(port)
        self.cycle = cycles.Cycle.from_json(saved) if saved else cycles.Cycle()
        self.unreadable = 0  # lines kept that the format could not read, since start

    def line(
        self, cycle: cycles.Cycle, text: str, event_id: str
    ) -> tuple[cycles.Cycle, SterilizerReading]:
        """The reading of one line, given the cycle the lines before it left. Never
        raises: a value no sterilizer prints (a garbled digit) makes the line unreadable."""
        line = self._format.parse(text)
        try:
            return cycles.follow(cycle, line, self.key, event_id, self._format.silent_end)
        except ValidationError as exc:
            problem = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in problem["loc"])
            unreadable = Unreadable(text, f"{where} out of range: {problem['msg']}")
            return cycles.follow(cycle, unreadable, self.key, event_id, False)

    def quiet(self, cycle: cycles.Cycle) -> tuple[cycles.Cycle, SterilizerReading] | None:
        return cycles.quiet(cycle, self.key, self._format.silent_end)

    def advance(self, cycle: cycles.Cycle, readings: list[SterilizerReading]) -> None:
        """The readings are kept: the cycle they left is the one in progress."""
        self.cycle = cycle
        self.unreadable += sum(1 for reading in readings if reading.unreadable)
