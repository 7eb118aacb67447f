"""Projection steps are paced so ingest comes first: at most one every 100 ms, and while
ingest is flooded a step is followed by a pause twice its length."""

from __future__ import annotations

import pytest

from hub.reconcile.worker import PACE_S, next_step_at


def test_a_quick_step_waits_for_the_pace_whether_or_not_ingest_is_flooded() -> None:
    assert next_step_at(10.0, 0.01, flooded=False) == pytest.approx(10.0 + PACE_S)
    assert next_step_at(10.0, 0.01, flooded=True) == pytest.approx(10.0 + PACE_S)


def test_a_long_step_while_ingest_is_flooded_leaves_ingest_two_thirds_of_the_time() -> None:
    started, took = 10.0, 0.3
    next_at = next_step_at(started, took, flooded=True)
    assert took / (next_at - started) == pytest.approx(1 / 3)


def test_a_long_step_with_ingest_keeping_up_is_followed_by_the_next_at_once() -> None:
    assert next_step_at(10.0, 0.3, flooded=False) == pytest.approx(10.0 + PACE_S)
