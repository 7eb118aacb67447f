"""Rules the database edge applies while it writes (hub/reconcile/writers.py, unit.py):
which of two facts about one thing stands (last writer wins, by event key), and what a
load's outcome does to what it held (containment). Pure, like rules.py.

Still in the edge, to come here (issue 30): what a tray carries into a load, late
assemblies that join later loads, the look-back for a late use, and which BI wins.
"""

from __future__ import annotations

from hub.domain.facts import CycleState
from hub.domain.rules import implant_held
from hub.domain.statuses import ItemStatus


def supersedes(held: str | None, key: str, again: bool = False) -> bool:
    """Rule 4: a fact with event key ``key`` replaces the one held (key ``held``) only if it
    is newer, so a late scan fills in history and never overwrites a newer fact. With
    ``again``, the same event decided again with more known (a load's outcome once its BI
    is in) replaces itself, so the order facts arrive in does not matter."""
    return held is None or held < key or (again and held == key)


def contents_outcome(cycle: CycleState) -> list[tuple[str, str]]:
    """Rule 5, containment: the statuses an item in a load (itself or inside a tray) takes
    from the load, each with the event key that sets it. A completed load makes it sterile,
    or quarantined when it failed or holds an implant whose BI has not passed (unless
    released early); a failed BI quarantines it, whatever the completion said."""
    statuses: list[tuple[str, str]] = []
    if cycle.result is not None and cycle.completed_key:
        passed = cycle.result == "pass"
        held = implant_held(cycle.implant, cycle.bi_result, cycle.early_release)
        outcome = ItemStatus.STERILE if passed and not held else ItemStatus.QUARANTINED
        statuses.append((outcome, cycle.completed_key))
    if cycle.bi_result == "fail" and cycle.bi_key:
        statuses.append((ItemStatus.QUARANTINED, cycle.bi_key))
    return statuses


def has_outcome(cycle: CycleState) -> bool:
    """The load's contents have an outcome to take: it completed, or its BI failed."""
    return bool(contents_outcome(cycle))
