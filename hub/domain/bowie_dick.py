"""AAMI ST79's daily air-removal test: a prevacuum sterilizer runs a passing Bowie-Dick
test each day before its first load. Pure, like rules.py, which raises the alert."""

from __future__ import annotations

from collections.abc import Iterable

from hub.domain.facts import CycleFacts

# Cycle types (``CMD-TYPE-<t>``, lowercased) that test the sterilizer rather than process
# a load: a Bowie-Dick air-removal test, a vacuum leak test.
BOWIE_DICK = frozenset({"bowie-dick", "bowie_dick", "bd"})
PREVAC = "prevac"
TEST_CYCLES = BOWIE_DICK | {"leak", "leak-test", "leak_test"}


def is_prevac(sterilizer_types: Iterable[str], cycle_type: str | None) -> bool:
    """A prevacuum sterilizer, for the Bowie-Dick rule: registered with a prevac cycle
    type, or running a prevac cycle (an unregistered sterilizer says so by its cycle)."""
    return PREVAC in sterilizer_types or cycle_type == PREVAC


def bowie_dick_missing(load: CycleFacts, day: list[CycleFacts], prevac: bool) -> bool:
    """AAMI ST79: a prevacuum sterilizer runs a passing Bowie-Dick test each day before its
    first load. True when ``load`` is that first load (by event time, of the cycles in
    ``day``) and no Bowie-Dick test of the day passed before it started."""
    if not prevac or load.cancelled or load.cycle_type in TEST_CYCLES:
        return False
    earlier = [
        c
        for c in day
        if c.session_id != load.session_id
        and not c.cancelled
        and c.cycle_type not in TEST_CYCLES
        and c.started_key < load.started_key
    ]
    if earlier:
        return False  # the day's first load was checked already
    return not any(
        c.cycle_type in BOWIE_DICK
        and c.result == "pass"
        and c.completed_key is not None
        and c.completed_key < load.started_key
        for c in day
    )
