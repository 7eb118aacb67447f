"""Sans-IO decoders: bytes or key events in, reads out. No ports, no threads, no clocks."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Read:
    """One complete read from a scanner."""

    text: str


@dataclass(frozen=True)
class BadRead:
    """Bytes that cannot be a read; ``text`` keeps them escaped for a person to see."""

    reason: str
    text: str


Frame = Read | BadRead
