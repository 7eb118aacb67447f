"""The station: decides, for each read, whether it is kept and with what context.

Pure: values in, values out. The intake thread commits what it decides; feedback is
shown only after that commit.

Rules (the foundation's; sessions per mode come with the station issue):
1. A read that is empty after stripping CR, LF and TAB is refused (``empty``).
2. A read over 512 characters is refused (``too_long``); the scanner must rescan.
3. Anything else is kept, with the station's name and mode as its context.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.feedback import Outcome
from protocol.messages import MAX_RAW_CHARS, ScanContext

_TRAILING = "\r\n\t"


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    message: str
    raw: str
    context: ScanContext

    @property
    def keep(self) -> bool:
        return self.outcome is Outcome.KEPT


@dataclass(frozen=True)
class Station:
    name: str
    mode: str

    def consider(self, text: str) -> Verdict:
        raw = text.rstrip(_TRAILING)
        context = ScanContext(station=self.name, mode=self.mode)
        if not raw.strip():
            return Verdict(Outcome.EMPTY, "Nothing was read. Scan again.", raw, context)
        if len(raw) > MAX_RAW_CHARS:
            return Verdict(
                Outcome.TOO_LONG,
                f"Read is {len(raw)} characters; the limit is {MAX_RAW_CHARS}. Scan again.",
                raw[:MAX_RAW_CHARS],
                context,
            )
        return Verdict(Outcome.KEPT, "Scan kept.", raw, context)
