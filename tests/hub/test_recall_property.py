"""Property: the recall query (hub/store/recall.py, one SQL statement for speed) returns
exactly the loads and items the pure rule says (hub/domain/containment.py recall_scope),
for generated days of tray assemblies, loads and BI results."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.domain.containment import LoadHistory, into_load, recall_scope
from hub.store.recall import recall_set
from tests.harness.stations import START, HubUnderTest, ScriptedStation

INSTRUMENTS = [f"INS-{i}" for i in range(1, 7)]
TRAYS = ["TRY-1", "TRY-2"]


def _key(code: str) -> str:
    return f"site:{code}"


def _day(rng: random.Random) -> tuple[list[ScriptedStation], list[LoadHistory], int]:
    """A bench and a sterilizer taking turns through one day, and the model of each load:
    what it carried (a tray brings its last assembly before it went in) and its BI. The
    number of a load whose BI failed."""
    bench = ScriptedStation("pi-bench", "tray_assembly")
    ste = ScriptedStation("pi-ste", "sterilizer")
    assembled: dict[str, tuple[str, ...]] = {}
    loads: list[LoadHistory] = []
    at = START
    for _ in range(rng.randint(3, 8)):
        at += timedelta(minutes=10)
        if rng.random() < 0.4:
            tray = rng.choice(TRAYS)
            inside = rng.sample(INSTRUMENTS, rng.randint(1, 3))
            bench.at = at
            bench.scan(tray, *inside, "CMD-COMPLETE")
            assembled[_key(tray)] = tuple(_key(code) for code in inside)
            continue
        number = len(loads) + 1
        added = rng.sample([*INSTRUMENTS, *TRAYS], rng.randint(1, 3))
        bi = rng.choice(["CMD-BI-PASS", "CMD-BI-FAIL", None])
        ste.at = at
        ste.scan("STE-A1", f"STE-A1.{number}", *added, "CMD-CYCLE-PASS")
        if bi:
            ste.scan(f"STE-A1.{number}", bi)
        carried = tuple(
            item
            for code in added
            for item in into_load(_key(code), assembled.get(_key(code), ()), ()).items
        )
        result = {"CMD-BI-PASS": "pass", "CMD-BI-FAIL": "fail", None: None}[bi]
        loads.append(LoadHistory(str(number), f"{number:04d}", result, False, carried))
    failing = [int(load.load) for load in loads if load.bi_result == "fail"]
    if not failing:  # the last load's BI fails, so every day asks a recall
        last = loads[-1] if loads else None
        ste.at = at + timedelta(minutes=10)
        if last is None:
            ste.scan("STE-A1", "STE-A1.1", "INS-1", "CMD-CYCLE-PASS")
            last = LoadHistory("1", "0001", None, False, ("site:INS-1",))
            loads.append(last)
        ste.scan(f"STE-A1.{last.load}", "CMD-BI-FAIL")
        loads[-1] = LoadHistory(last.load, last.started_key, "fail", False, last.carried)
        failing = [int(last.load)]
    return [bench, ste], loads, rng.choice(failing)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
@given(seed=st.integers(0, 2**32 - 1))
def test_the_recall_query_returns_exactly_what_the_containment_rule_says(
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
    backend: str,
    seed: int,
) -> None:
    """For a generated day, the recall of a failed BI names the loads and the items (a
    tray's instruments as assembled before it went in) that recall_scope gives from the
    day's own model."""
    rng = random.Random(seed)
    stations, loads, failing = _day(rng)
    url = f"sqlite:///{tmp_path_factory.mktemp('recall') / 'hub.db'}"
    if backend == "postgresql":
        url = request.getfixturevalue("postgres").create_database()
    hub = HubUnderTest(url)
    try:
        for station in stations:
            if station.events:
                hub.deliver(station.events)
        expected = recall_scope(loads, f"{failing:04d}")
        with hub.engine.connect() as conn:
            found = recall_set(conn, f"site:STE-A1.{failing}")
        assert found is not None
        assert tuple(load["cycle_number"] for load in found["loads"]) == expected.loads
        assert {item["item"] for item in found["items"]} == expected.items
    finally:
        hub.engine.dispose()
