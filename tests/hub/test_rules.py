"""The pure reconcile rules, without a database."""

from __future__ import annotations

import pytest

from hub.reconcile.rules import CycleFacts, bowie_dick_missing, cycle_status


def _cycle(
    n: int, cycle_type: str | None = "prevac", result: str | None = "pass", cancelled: bool = False
) -> CycleFacts:
    """Cycle ``n`` of a day: started at key 2n, completed at 2n + 1."""
    return CycleFacts(
        f"load-{n}", cycle_type, f"k{2 * n:02d}", f"k{2 * n + 1:02d}", result, cancelled
    )


def test_the_first_load_of_the_day_with_no_bowie_dick_is_flagged() -> None:
    """On a prevacuum sterilizer the day's first load, with no Bowie-Dick before it, is."""
    first = _cycle(1)
    assert bowie_dick_missing(first, [first], prevac=True)


def test_a_passing_bowie_dick_before_the_first_load_clears_it() -> None:
    """A Bowie-Dick test that passed before the load started clears the load."""
    bd, first = _cycle(1, "bowie-dick"), _cycle(2)
    assert not bowie_dick_missing(first, [bd, first], prevac=True)


@pytest.mark.parametrize(
    "bd",
    [_cycle(1, "bowie-dick", result="fail"), _cycle(3, "bowie-dick"), _cycle(1, "bd", None)],
    ids=["failed", "after_the_load", "never_completed"],
)
def test_a_bowie_dick_that_did_not_pass_before_the_load_does_not_clear_it(
    bd: CycleFacts,
) -> None:
    """A failed, later or unfinished Bowie-Dick test leaves the first load flagged."""
    first = _cycle(2)
    assert bowie_dick_missing(first, [bd, first], prevac=True)


def test_only_the_first_load_of_the_day_is_flagged() -> None:
    """The second load of a day with no Bowie-Dick is not flagged again."""
    first, second = _cycle(1), _cycle(2)
    assert not bowie_dick_missing(second, [first, second], prevac=True)


def test_a_cancelled_load_is_not_the_first_load() -> None:
    """A cancelled start is neither flagged nor counts as the day's first load."""
    cancelled, first = _cycle(1, cancelled=True), _cycle(2)
    assert not bowie_dick_missing(cancelled, [cancelled, first], prevac=True)
    assert bowie_dick_missing(first, [cancelled, first], prevac=True)


@pytest.mark.parametrize("test_type", ["bowie-dick", "leak"])
def test_the_tests_themselves_are_not_loads(test_type: str) -> None:
    """A Bowie-Dick or leak test is never flagged and is not the day's first load."""
    leak, first = _cycle(1, test_type, result="fail"), _cycle(2)
    assert not bowie_dick_missing(leak, [leak, first], prevac=True)
    assert bowie_dick_missing(first, [leak, first], prevac=True)


def test_a_gravity_sterilizer_needs_no_bowie_dick() -> None:
    """A sterilizer that is not prevacuum is never flagged."""
    first = _cycle(1, "gravity")
    assert not bowie_dick_missing(first, [first], prevac=False)


@pytest.mark.parametrize(
    ("result", "bi", "implant", "status"),
    [
        ("pass", None, False, "released"),
        ("pass", None, True, "quarantined"),
        ("pass", "pass", True, "released"),
        ("pass", "fail", False, "quarantined"),
        ("fail", None, True, "failed"),
        (None, None, True, "open"),
    ],
)
def test_an_implant_load_is_released_only_by_a_passing_bi(
    result: str | None, bi: str | None, implant: bool, status: str
) -> None:
    """A passed cycle releases a load, unless it holds an implant whose BI has not passed."""
    assert cycle_status(result, bi, False, implant) == status
