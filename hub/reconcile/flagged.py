"""The unregistered codes the projector has already alerted on, so a sterilizer, case or
location nobody imported raises one ``unregistered_code`` alert, not one per load or move.

Items and assets are flagged once by their own record (its ``registered`` column).
Sterilizers, cases and locations have no record of their own, so the projector remembers
them here: once per code per hub process, as the gap and readiness alerts are (a restart
reminds once). A code counts only once the transaction that raised its alert commits: a
step that rolled back raises it again. Bounded: past ``LIMIT`` codes the oldest are
forgotten, at worst one more alert each.
"""

from __future__ import annotations

from collections.abc import Iterable

LIMIT = 10_000


class Flagged:
    def __init__(self, limit: int = LIMIT) -> None:
        self._limit = limit
        self._saved: dict[str, None] = {}  # insertion order: the oldest go first
        self._unsaved: set[str] = set()  # raised in the transaction still open

    def seen(self, detail: str) -> bool:
        return detail in self._saved or detail in self._unsaved

    def add(self, details: Iterable[str]) -> None:
        self._unsaved.update(details)

    def committed(self) -> None:
        self._saved.update(dict.fromkeys(self._unsaved))
        while len(self._saved) > self._limit:
            del self._saved[next(iter(self._saved))]
        self._unsaved.clear()

    def rolled_back(self) -> None:
        self._unsaved.clear()
