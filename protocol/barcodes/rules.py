"""Site rules: which legacy label prefixes or patterns mean which kind (DESIGN.md §4)."""

from __future__ import annotations

import re
from functools import cached_property

from pydantic import BaseModel, ConfigDict, Field, field_validator

from protocol.barcodes.result import Kind

DEFAULT_PREFIXES: dict[Kind, tuple[str, ...]] = {
    Kind.COMMAND: ("CMD-",),
    Kind.INSTRUMENT: ("INS-",),
    Kind.TRAY: ("TRY-",),
    Kind.LOCATION: ("LOC-",),
    Kind.ASSET: ("AST-",),
    Kind.STAFF: ("USR-",),
    Kind.CASE: ("CASE-",),
    Kind.PATIENT: ("PAT-",),
    Kind.STERILIZER: ("STE-",),
}


class DecodeRules(BaseModel):
    """Per-site decoding rules. Frozen, validated, safe to share between threads."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    gs_substitute: str | None = Field(
        None,
        min_length=1,
        max_length=8,
        description="What a keyboard-wedge scanner sends instead of GS (0x1D), e.g. '~' or '<GS>'.",
    )
    prefixes: dict[Kind, tuple[str, ...]] = Field(
        default_factory=lambda: dict(DEFAULT_PREFIXES),
        description="Legacy label prefixes per kind; matched case-insensitively, longest first.",
    )
    patterns: dict[Kind, str] = Field(
        default_factory=dict, description="A full-match regular expression per kind."
    )

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, value: dict[Kind, str]) -> dict[Kind, str]:
        for kind, pattern in value.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"pattern for {kind.value} does not compile: {exc}") from None
        return value

    @cached_property
    def _ordered_prefixes(self) -> list[tuple[str, Kind]]:
        pairs = [(p.upper(), k) for k, ps in self.prefixes.items() for p in ps]
        return sorted(pairs, key=lambda pair: -len(pair[0]))

    @cached_property
    def _compiled(self) -> list[tuple[re.Pattern[str], Kind]]:
        return [(re.compile(p), k) for k, p in self.patterns.items()]

    def site_kind(self, label: str) -> Kind | None:
        upper = label.upper()
        for prefix, kind in self._ordered_prefixes:
            if upper.startswith(prefix) and len(upper) > len(prefix):
                return kind
        for pattern, kind in self._compiled:
            if pattern.fullmatch(label):
                return kind
        return None


DEFAULT_RULES = DecodeRules()
