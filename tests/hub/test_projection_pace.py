"""Projection steps are paced so ingest comes first: at most one every 100 ms; while
ingest is flooded a step is followed by a pause twice its length; a quiet spell gets a
catch-up step (hub/ingest/pacing.py, driven here with a fake clock)."""

from __future__ import annotations

import pytest

from hub.ingest.pacing import IDLE_WAIT_S, QUIET_S, Pacer, Step
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


def test_the_writer_waits_for_messages_only_while_the_records_are_current() -> None:
    """Current records: wait the idle time for a message; lagging: only until a step is
    due, so projecting is not put off by a quiet broker."""
    pacer = Pacer()
    assert pacer.wait_for_messages(10.0) == IDLE_WAIT_S
    pacer.batch_done(10.0)
    pacer.scans_stored()
    assert pacer.wait_for_messages(10.0) == 0.0  # a busy step is due at once
    pacer.stepped(10.0, 0.01, flooded=False, projected=100)
    assert pacer.wait_for_messages(10.01) == pytest.approx(QUIET_S - 0.01)
    pacer.stepped(10.1, 0.01, flooded=False, projected=0)
    assert pacer.wait_for_messages(10.2) == IDLE_WAIT_S


def test_messages_waiting_get_busy_steps_at_the_pace_and_a_quiet_spell_a_catch_up() -> None:
    """While messages wait, a busy step comes when next_step_at allows and not before;
    once no batch came for QUIET_S and none waits, a catch-up step."""
    pacer = Pacer()
    pacer.batch_done(10.0)
    pacer.scans_stored()
    assert pacer.step_due(10.0, messages_wait=True) is Step.BUSY
    pacer.stepped(10.0, 0.02, flooded=True, projected=100)
    assert pacer.step_due(10.05, messages_wait=True) is None
    assert pacer.step_due(10.0 + PACE_S, messages_wait=True) is Step.BUSY
    assert pacer.step_due(10.0 + QUIET_S / 2, messages_wait=False) is None
    assert pacer.step_due(10.0 + QUIET_S, messages_wait=False) is Step.CATCH_UP
