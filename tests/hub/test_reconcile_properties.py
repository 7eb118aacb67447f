"""Property: records depend on which scans arrived, not on their order or repetition."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub import refdata
from hub.reconcile.rebuild import rebuild, snapshot
from hub.store import records
from protocol.messages import ScanEvent
from tests.harness.stations import START, HubUnderTest, ScriptedStation

INSTRUMENTS = [f"INS-{i}" for i in range(1, 7)]
ASSETS = [f"AST-{i}" for i in range(1, 5)]
LOCATIONS = [f"LOC-{i}" for i in range(1, 4)]
TRAYS = {"TRY-1": ["INS-7", "INS-8"], "TRY-2": ["INS-9", "INS-10"]}


def _day(rng: random.Random) -> list[ScriptedStation]:
    """Realistic interleaved work of eight stations over one morning."""
    bench = ScriptedStation(
        "pi-bench", "tray_assembly", START + timedelta(minutes=rng.randint(0, 60))
    )
    for tray, contents in TRAYS.items():  # each tray once: see docs/records.md, containment
        bench.scan(tray, *rng.sample(contents, rng.randint(1, 2)), "CMD-COMPLETE")
    ste = ScriptedStation("pi-ste", "sterilizer", START + timedelta(minutes=rng.randint(0, 30)))
    bi = ScriptedStation("pi-bi", "sterilizer", START + timedelta(hours=rng.randint(0, 3)))
    ors = [
        ScriptedStation(f"pi-or{n}", "point_of_use", START + timedelta(minutes=rng.randint(0, 90)))
        for n in (1, 2)
    ]
    porters = [
        ScriptedStation(
            f"pi-porter{n}", "asset_move", START + timedelta(minutes=rng.randint(0, 60))
        )
        for n in (1, 2)
    ]
    ward = ScriptedStation("pi-ward", "equipment_checkout", START)
    for cycle in range(1, rng.randint(2, 4)):
        contents = rng.sample([*INSTRUMENTS, *TRAYS], rng.randint(1, 4))
        end = rng.choice(["CMD-CYCLE-PASS", "CMD-CYCLE-PASS", "CMD-CYCLE-FAIL", "CMD-CANCEL"])
        ste.scan("STE-A1", f"STE-A1.{cycle}", *contents, end)
        if rng.random() < 0.6:
            bi.scan(f"STE-A1.{cycle}", rng.choice(["CMD-BI-PASS", "CMD-BI-FAIL"]))
    for station in ors:
        for case in range(rng.randint(1, 2)):
            used = rng.sample([*INSTRUMENTS, "INS-7", "INS-9"], rng.randint(1, 3))
            station.scan(f"CASE-{station.agent_id}-{case}", *used, "CMD-RETURN")
            for item in used:
                if rng.random() < 0.3:
                    station.scan("CMD-COND-DAMAGED")
                station.scan(item)
    for station in porters:
        for _ in range(rng.randint(1, 3)):
            station.scan(*rng.sample(ASSETS, rng.randint(1, 3)), rng.choice(LOCATIONS))
    for patient in range(rng.randint(1, 3)):
        walker = rng.choice(["AST-W1", "AST-W2"])
        ward.scan(f"PAT-{patient}", walker, "CMD-DONE")
        if rng.random() < 0.7:
            ward.scan(walker)
            if rng.random() < 0.7:
                ward.scan("CMD-CLEANED", walker)
    return [bench, ste, bi, *ors, *porters, ward]


def _shuffled_messages(
    rng: random.Random, stations: list[ScriptedStation]
) -> list[list[ScanEvent]]:
    messages: list[list[ScanEvent]] = []
    for station in stations:
        events = station.events
        at = 0
        while at < len(events):
            size = rng.randint(1, 4)
            messages.append(events[at : at + size])
            at += size
    messages += [rng.choice(messages) for _ in range(len(messages) // 3)]  # redeliveries
    rng.shuffle(messages)
    return messages


def _records(hub: HubUnderTest) -> dict[str, list[tuple[object, ...]]]:
    with hub.engine.connect() as conn:
        return {table.name: snapshot(conn, table) for table in records.RECORDS}


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
@given(seed=st.integers(0, 2**32 - 1))
def test_any_arrival_order_and_duplication_gives_the_same_records_and_rebuild_agrees(
    tmp_path_factory: object, request: pytest.FixtureRequest, backend: str, seed: int
) -> None:
    """Scans of eight stations delivered in order, or chunked, shuffled across and within
    agents and partly redelivered, and projected in steps of any size at any time, give
    identical records; a rebuild changes none."""
    rng = random.Random(seed)
    stations = _day(rng)
    folder = Path(tmp_path_factory.mktemp("prop"))
    catalogue = folder / "instruments.json"  # an implant: its loads wait for their BI
    catalogue.write_text(json.dumps([{"code": "INS-8", "name": "Plate", "implant": True}]))
    in_order = HubUnderTest(f"sqlite:///{folder / 'in_order.db'}")
    refdata.load(in_order.engine, "instruments", catalogue)
    for station in stations:
        if station.events:
            in_order.deliver(station.events)
    url = f"sqlite:///{folder / 'shuffled.db'}"
    if backend == "postgresql":
        url = request.getfixturevalue("postgres").create_database()
    shuffled = HubUnderTest(url, step_scans=rng.randint(1, 7))
    refdata.load(shuffled.engine, "instruments", catalogue)
    messages = _shuffled_messages(rng, stations)
    while messages:
        take = rng.randint(1, 5)  # several messages share one ingest transaction
        shuffled.deliver(*messages[:take], project=False)
        for _ in range(rng.randint(0, 3)):  # the projector lags, or catches up
            shuffled.worker.project()
        messages = messages[take:]
    shuffled.project_all()
    expected = _records(in_order)
    assert sum(len(rows) for rows in expected.values()) > 10
    assert _records(shuffled) == expected
    report = rebuild(shuffled.engine)
    assert all(line.differ == 0 for line in report.values()), report
    in_order.engine.dispose()
    shuffled.engine.dispose()
