"""What the hub's reference snapshot tells a station about one scan. Pure: the station
asks it while deciding; the snapshot arrives through agent/reference.py.

- At point of use, an item that is quarantined, from a failed or unreleased load, or
  recalled is **blocked**: the person is told not to use it and why. The scan is still
  recorded and sent (outcome ``blocked``) so the hub logs the attempt and alerts.
- At the tray bench, an instrument the catalogue does not know, one the tray's count
  sheet does not list (by instrument or by its category), or one already going into
  another open tray is kept with a **warning**: the count sheet is the person's call.

The snapshot may be hours old while the hub is unreachable; the station says how old in
its status and health (agent/reference.py), and decides with what it has.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol.reference import ReferenceSnapshot


@dataclass(frozen=True)
class Advice:
    """``blocked``: why the item must not be used (None when it may); ``warnings``: short
    codes for the reading; ``notes``: the same in words for the screen."""

    blocked: str | None = None
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


NOTHING = Advice()


class Catalog:
    def __init__(self, snapshot: ReferenceSnapshot) -> None:
        self.snapshot = snapshot
        self._instruments = {i.key: i for i in snapshot.instruments}
        self._recipes = {t.key: t.recipe for t in snapshot.trays}
        self._blocked = {b.key: b.reason for b in snapshot.blocked}
        self._people = {s.key: s.name for s in snapshot.staff}
        self._names = {
            **{i.key: i.name for i in snapshot.instruments},
            **{t.key: t.name for t in snapshot.trays},
        }

    def shown(self, key: str, code: str) -> str:
        """How the screen shows a scanned code: a badge as the person's name, an instrument
        or tray as its code beside its name, anything else as the code."""
        if key in self._people:
            return self._people[key]
        name = self._names.get(key)
        return f"{code} {name}" if name else code

    def at_use(self, item: str) -> Advice:
        reason = self._blocked.get(item)
        if reason is not None:
            return Advice(blocked=reason)
        if item not in self._instruments and item not in self._recipes:
            return Advice(warnings=("unknown_instrument",), notes=("not in the catalogue",))
        return NOTHING

    def at_tray(self, tray: str, instrument: str) -> Advice:
        warnings: list[str] = []
        notes: list[str] = []
        known = self._instruments.get(instrument)
        if known is None:
            warnings.append("unknown_instrument")
            notes.append("not in the catalogue")
        recipe = self._recipes.get(tray)
        category = known.category if known else None
        if recipe is not None and instrument not in recipe and category not in recipe:
            warnings.append("not_in_count_sheet")
            notes.append("not in this tray's count sheet")
        elsewhere = self.snapshot.open_trays.get(instrument)
        if elsewhere is not None and elsewhere != tray:
            warnings.append("in_another_open_tray")
            notes.append(f"already in open tray {elsewhere.split(':', 1)[-1]}")
        if instrument in self._blocked:
            warnings.append("blocked")
            notes.append(self._blocked[instrument])
        return Advice(warnings=tuple(warnings), notes=tuple(notes))
