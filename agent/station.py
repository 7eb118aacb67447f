"""The station: decides, for each read, what the person is told and what is recorded.

Pure: values in, values out. The intake thread commits what it decides; feedback is
shown only after that commit.

Rules (sessions per mode come with the station issue):
1. A read that is empty after stripping CR, LF and TAB is refused and not recorded.
2. A read the decoder rejects is a bad read: refused, but recorded (cut to 512
   characters) so an operator can see what the scanner sent.
3. A label no rule recognises is refused as ``unknown_label`` and recorded too.
4. Anything else is kept, with its reading and the station's context.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.feedback import Outcome
from protocol.barcodes import DecodeRules, Kind, Rejected, decode
from protocol.messages import MAX_RAW_CHARS, Reading, ScanContext

_TRAILING = "\r\n\t"


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    message: str
    raw: str
    context: ScanContext
    reading: Reading | None

    @property
    def record(self) -> bool:
        """Whether the read is committed to the outbox (kept or kept-for-review)."""
        return self.outcome is not Outcome.EMPTY


@dataclass(frozen=True)
class Station:
    name: str
    mode: str
    rules: DecodeRules

    def refuse(self, reason: str, text: str) -> Verdict:
        """A read the framing layer already knows is bad (garbage bytes, runaway line)."""
        reading = Reading(kind="rejected", warnings=(reason,), outcome=Outcome.BAD_READ.value)
        message = f"Bad read ({reason.replace('_', ' ')}). Scan again."
        context = ScanContext(station=self.name, mode=self.mode)
        return Verdict(Outcome.BAD_READ, message, text[:MAX_RAW_CHARS], context, reading)

    def consider(self, text: str) -> Verdict:
        raw = text.rstrip(_TRAILING)[:MAX_RAW_CHARS]
        context = ScanContext(station=self.name, mode=self.mode)
        result = decode(text, self.rules)
        if isinstance(result, Rejected):
            if result.reason == "empty":
                return Verdict(Outcome.EMPTY, "Nothing was read. Scan again.", raw, context, None)
            reading = Reading(
                kind="rejected",
                symbology=result.symbology,
                warnings=(result.reason,),
                outcome=Outcome.BAD_READ.value,
            )
            message = f"Bad read: {result.message}. Scan again."
            return Verdict(Outcome.BAD_READ, message, raw, context, reading)
        outcome = Outcome.UNKNOWN_LABEL if result.kind is Kind.UNKNOWN else Outcome.KEPT
        reading = Reading(
            kind=result.kind.value,
            key=result.key[:MAX_RAW_CHARS],
            symbology=result.symbology,
            warnings=result.warnings,
            outcome=outcome.value,
        )
        if outcome is Outcome.UNKNOWN_LABEL:
            return Verdict(outcome, "Unknown label: not a known code.", raw, context, reading)
        message = f"{result.kind.value.capitalize()} {result.key}"
        if result.warnings:
            message += f" (warning: {', '.join(result.warnings)})"
        return Verdict(Outcome.KEPT, message, raw, context, reading)
