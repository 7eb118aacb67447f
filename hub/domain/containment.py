"""Rules the database edge applies while it writes (hub/reconcile/writers.py, reads.py):
which of two facts about one thing stands (last writer wins, by event key), what a tray
carries into a load, what a load's outcome does to what it held (containment), which of a
cycle's BI results stands, the loads a late assembly joins, which load a late use came
from, where a use happens, and what a failed BI recalls (hub/store/recall.py answers the
same in one query; a property test holds the two to each other). Pure, like rules.py: the
edge reads what each needs and writes what it returns.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass

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
    released early); a failed BI, or a failed record of the sterilizer's (the cycle's
    physical monitors), quarantines it, whatever the completion said. The record's verdict
    is decided again when the load's number or cycle type arrives after it (capture.py):
    at its key the contents take the load's whole outcome as now known, so a verdict that
    turned cannot leave behind what it said before."""
    statuses: list[tuple[str, str]] = []
    physical_failed = cycle.physical_result == "fail"
    if cycle.result is not None and cycle.completed_key:
        passed = cycle.result == "pass" and not physical_failed
        held = implant_held(cycle.implant, cycle.bi_result, cycle.early_release)
        outcome = ItemStatus.STERILE if passed and not held else ItemStatus.QUARANTINED
        statuses.append((outcome, cycle.completed_key))
        if cycle.physical_key:  # the record's verdict stands at its own key too
            statuses.append((outcome, cycle.physical_key))
    elif cycle.physical_key:  # judged while the load is open: failed, or still in process
        still = ItemStatus.QUARANTINED if physical_failed else ItemStatus.PROCESSING
        statuses.append((still, cycle.physical_key))
    if cycle.bi_result == "fail" and cycle.bi_key:
        statuses.append((ItemStatus.QUARANTINED, cycle.bi_key))
    return statuses


def has_outcome(cycle: CycleState) -> bool:
    """The load's contents have an outcome to take: it completed, or its BI failed."""
    return bool(contents_outcome(cycle))


@dataclass(frozen=True)
class IntoLoad:
    items: tuple[str, ...]  # the item added, then a tray's instruments as last assembled
    implant: bool  # one of them is an implant: the load is held until its BI passes


def into_load(item: str, inside: Sequence[str], implants: Container[str]) -> IntoLoad:
    """What an item added to a load brings into it: itself and, for a tray, the
    instruments of its last assembly begun before it went in (not those of a later one)."""
    carried = (item, *inside)
    return IntoLoad(carried, any(one in implants for one in carried))


def standing_bi(results: Iterable[tuple[str, str]]) -> tuple[str, str] | None:
    """(result, event key) of the BI result that stands for a cycle, of its (event key,
    result) pairs: the newest by event key, so a re-read replaces an earlier read and a
    late scan of an older read changes nothing."""
    newest = max(results, default=None)
    return (newest[1], newest[0]) if newest else None


def late_assembly_loads(
    assembly: str, loads_since: Iterable[tuple[str, str, str | None]]
) -> list[tuple[str, str]]:
    """The loads an item of an assembly that reached the hub late joins, of (add key,
    load, the tray's last assembly begun before that add) for each load the tray went
    into after the assembly began: those this assembly was the tray's last one before."""
    return [(key, load) for key, load, before in loads_since if before == assembly]


def load_at(key: str, loads: Iterable[tuple[str, str]]) -> str | None:
    """The load an item came from when used at event ``key``, of its (add key, load)
    pairs: the last it went into before the use. A use that reaches the hub after the
    item went through another load still names the load it really came from."""
    before = [(add_key, load) for add_key, load in loads if add_key < key]
    return max(before)[1] if before else None


def where_used(case_room: str | None, station: str | None) -> str | None:
    """Where an item used or returned in a case is: the case's registered room, or else
    the station that scanned it."""
    return case_room or station


@dataclass(frozen=True)
class LoadHistory:
    """One load of a sterilizer as recall needs it."""

    load: str
    started_key: str
    bi_result: str | None  # the standing one
    cancelled: bool
    carried: tuple[str, ...]  # into_load's items for each add, in order


@dataclass(frozen=True)
class Recalled:
    loads: tuple[str, ...]  # in the order they started
    items: frozenset[str]


def recall_scope(loads: Iterable[LoadHistory], failing_key: str) -> Recalled:
    """Rule 6, recall: of one sterilizer's loads, a failed BI of the load started at
    ``failing_key`` recalls every load (not cancelled) after the last one before it whose
    BI passed, up to the first one after it whose BI passed, and everything they carried."""
    every = sorted(loads, key=lambda load: load.started_key)
    passed = [load.started_key for load in every if load.bi_result == "pass"]
    after = max((key for key in passed if key < failing_key), default="")
    before = min((key for key in passed if key > failing_key), default=None)
    chosen = [
        load
        for load in every
        if after < load.started_key
        and (before is None or load.started_key < before)
        and not load.cancelled
    ]
    return Recalled(
        tuple(load.load for load in chosen),
        frozenset(item for load in chosen for item in load.carried),
    )
