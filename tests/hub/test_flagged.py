"""The projector's memory of unregistered codes it alerted on (hub/reconcile/flagged.py)."""

from __future__ import annotations

from hub.reconcile.flagged import Flagged


def test_a_code_counts_as_alerted_only_once_its_transaction_commits() -> None:
    """A code raised in a step that rolled back is not remembered; one that committed is."""
    flagged = Flagged()
    flagged.add(["location site:LOC-1 is not registered"])
    assert flagged.seen("location site:LOC-1 is not registered")  # later in the same step
    flagged.rolled_back()
    assert not flagged.seen("location site:LOC-1 is not registered")
    flagged.add(["location site:LOC-1 is not registered"])
    flagged.committed()
    flagged.rolled_back()
    assert flagged.seen("location site:LOC-1 is not registered")


def test_past_its_limit_the_oldest_codes_are_forgotten() -> None:
    """Memory stays bounded whatever garbage is scanned: the oldest go first."""
    flagged = Flagged(limit=2)
    for code in ("a", "b", "c"):
        flagged.add([code])
        flagged.committed()
    assert [flagged.seen(c) for c in ("a", "b", "c")] == [False, True, True]
