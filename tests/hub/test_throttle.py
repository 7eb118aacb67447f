"""Sign-in throttling's rules (hub/access/throttle.py, pure): times handed in."""

from __future__ import annotations

from hub.access.throttle import FLOOD, FREE_TRIES, MAX_WAIT_S, Throttle, keys_for

OLGA = keys_for("Olga ", "10.0.0.7")


def test_five_wrong_tries_are_free_then_each_waits_twice_as_long_as_the_last() -> None:
    """No wait through the fifth wrong try; then 1 s, 2 s, 4 s from the latest, to a cap."""
    throttle = Throttle()
    for n in range(FREE_TRIES - 1):
        throttle.failed(OLGA, float(n))
        assert throttle.wait_s(OLGA, float(n)) == 0
    waits = []
    for n in range(FREE_TRIES - 1, FREE_TRIES + 3):
        throttle.failed(OLGA, 100.0 * n)
        waits.append(throttle.wait_s(OLGA, 100.0 * n))
    assert waits == [1.0, 2.0, 4.0, 8.0]
    assert throttle.wait_s(OLGA, 100.0 * (FREE_TRIES + 2) + 3) == 5.0
    for n in range(40):
        throttle.failed(OLGA, 10_000.0 + n)
    assert throttle.wait_s(OLGA, 10_039.0) == MAX_WAIT_S


def test_a_success_clears_the_count_and_the_name_is_not_case_or_space_sensitive() -> None:
    """After a success the next wrong try is free again; "olga" and "Olga " are one name."""
    throttle = Throttle()
    for n in range(FREE_TRIES + 2):
        throttle.failed(keys_for("olga", "10.0.0.9"), float(n))
    assert throttle.wait_s(OLGA, 7.0) > 0  # the same name, from another address
    throttle.succeeded(OLGA)
    throttle.succeeded(keys_for("olga", "10.0.0.9"))
    assert throttle.wait_s(OLGA, 7.0) == 0


def test_a_flood_is_named_once_as_it_crosses_the_line_and_refused_tries_count() -> None:
    """More than FLOOD tries for one address within the window (wrong or too soon) names
    that address once; guesses at many names from it are one flood, not many."""
    throttle = Throttle()
    named = []
    for n in range(FLOOD + 20):
        keys = keys_for(f"user{n}", "10.6.6.6")
        count = throttle.failed if n % 2 else throttle.refused
        named += count(keys, float(n))
    assert named == [("address", "10.6.6.6")]


def test_a_token_try_counts_against_its_address_alone() -> None:
    """Wrong tokens from one address never make another address wait."""
    throttle = Throttle()
    for n in range(FREE_TRIES + 3):
        throttle.failed(keys_for(None, "10.0.0.1"), float(n))
    assert throttle.wait_s(keys_for(None, "10.0.0.1"), 8.0) > 0
    assert throttle.wait_s(keys_for(None, "10.0.0.2"), 8.0) == 0
