"""Containment as pure rules (hub/domain/containment.py), tested as test_decide.py tests
the scan rules: what a tray carries into a load, which BI result stands, which loads a
late assembly joins, which load a late use came from, and where a use happens."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hub.domain.containment import (
    into_load,
    late_assembly_loads,
    load_at,
    standing_bi,
    where_used,
)

KEYS = st.text(alphabet="0123456789", min_size=4, max_size=4)


def test_a_tray_brings_its_instruments_and_holds_the_load_if_one_is_an_implant() -> None:
    """The tray first, then its instruments in assembly order; an implant among them
    (not only the item scanned) makes the load an implant load."""
    carried = into_load("site:TRY-7", ("site:INS-1", "site:IMP-9"), {"site:IMP-9"})
    assert carried.items == ("site:TRY-7", "site:INS-1", "site:IMP-9")
    assert carried.implant
    assert not into_load("site:INS-1", (), {"site:IMP-9"}).implant


def test_the_newest_bi_read_stands_whatever_order_the_reads_arrived_in() -> None:
    """A re-read replaces the earlier read; a late scan of the older read changes nothing;
    no read, no result."""
    assert standing_bi([("0002", "pass"), ("0001", "fail")]) == ("pass", "0002")
    assert standing_bi([("0001", "fail"), ("0002", "pass")]) == ("pass", "0002")
    assert standing_bi([]) is None


def test_a_late_assembly_joins_only_the_loads_it_was_the_tray_s_last_one_before() -> None:
    """Of the tray's loads since the assembly began, those whose last assembly before
    them is this one; a load after a newer assembly brought that assembly's items."""
    since = [("0005", "load-a", "asm-1"), ("0007", "load-b", "asm-1"), ("0009", "load-c", "asm-2")]
    assert late_assembly_loads("asm-1", since) == [("0005", "load-a"), ("0007", "load-b")]
    assert late_assembly_loads("asm-3", since) == []


def test_a_late_use_names_the_load_the_item_came_from_not_a_later_one() -> None:
    """A use scanned at 0006 that reaches the hub after the item went into load-b at
    0008 came from load-a; a use before any load came from none."""
    loads = [("0003", "load-a"), ("0008", "load-b")]
    assert load_at("0006", loads) == "load-a"
    assert load_at("0009", loads) == "load-b"
    assert load_at("0001", loads) is None


@given(
    st.lists(
        st.tuples(KEYS, st.sampled_from(["load-a", "load-b", "load-c"])), unique_by=lambda p: p[0]
    ),
    KEYS,
)
def test_a_use_comes_from_the_newest_load_before_it_in_any_order(
    loads: list[tuple[str, str]], key: str
) -> None:
    """Whatever order the loads are given in, the answer is the newest one before the use."""
    expected = max((p for p in loads if p[0] < key), default=None)
    assert load_at(key, loads) == (expected[1] if expected else None)
    assert load_at(key, list(reversed(loads))) == load_at(key, loads)


def test_a_use_is_in_the_case_s_room_or_else_at_the_station() -> None:
    """The case's registered room wins; a case with no room is where the station is."""
    assert where_used("site:LOC-OR1", "pi-or") == "site:LOC-OR1"
    assert where_used(None, "pi-or") == "pi-or"
