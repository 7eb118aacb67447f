"""The recall trace over a hospital year of scans, on SQLite and PostgreSQL (issue 12).

Builds the year through the hub's real writer (ingest transaction, then the projector),
in process: the figure here is the recall query, not the ingest path, which
``bench/e2e_bench.py`` measures as users run it. The year: 4 sterilizers with about 10
loads a day each, 400 trays of 12 instruments assembled at a bench before each load,
200 loose instruments, a daily biological indicator per sterilizer (2% fail) and cycles
that fail 1% of the time, 8 operating rooms using what came out of the loads; 5,000
instruments in all, scans until ``--scans``.

Then 50 traces of random load labels, ``recall_set`` against a plain indexed lookup of
one load's contents in the same run. Prints one JSON line. Target: recall p99 < 100 ms.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
import structlog  # noqa: E402

from hub.store.recall import recall_set  # noqa: E402
from hub.store.records import session_items  # noqa: E402
from protocol.messages import ScanEvent  # noqa: E402
from tests.harness.postgres import Postgres  # noqa: E402
from tests.harness.stations import START, HubUnderTest, ScriptedStation  # noqa: E402

STERILIZERS = 4
LOADS_PER_DAY = 10
TRAYS = 400
PER_TRAY = 12
LOOSE = 200  # instruments on no tray: 400 x 12 + 200 = 5,000
TRAYS_PER_LOAD = 4
ROOMS = 8
CASES_PER_ROOM = 5
BATCH = 100  # events per message, as an agent drains
TRACES = 50


def _ins(n: int) -> str:
    return f"INS-{n:05d}"


def _tray_contents(tray: int) -> list[str]:
    return [_ins(tray * PER_TRAY + i + 1) for i in range(PER_TRAY)]


class Year:
    """The stations of one hospital, scanning day by day."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.benches = [ScriptedStation(f"pi-bench{s}", "tray_assembly") for s in range(4)]
        self.sterilizers = [ScriptedStation(f"pi-ste{s}", "sterilizer") for s in range(4)]
        self.rooms = [ScriptedStation(f"pi-or{r}", "point_of_use") for r in range(ROOMS)]
        self.numbers = [1000] * STERILIZERS
        self.labels: list[str] = []

    def day(self, d: int) -> list[list[ScanEvent]]:
        rng = self.rng
        start = START + timedelta(days=d)
        loaded: list[str] = []
        for s in range(STERILIZERS):
            bench, ste = self.benches[s], self.sterilizers[s]
            bench.at = max(bench.at, start + timedelta(hours=6))
            ste.at = max(ste.at, start + timedelta(hours=7))
            own = [s * (TRAYS // STERILIZERS) + i for i in range(TRAYS // STERILIZERS)]
            for load in range(LOADS_PER_DAY):
                trays = rng.sample(own, TRAYS_PER_LOAD)
                for tray in trays:
                    contents = _tray_contents(tray)
                    bench.scan(
                        f"TRY-{tray:03d}", *contents, "CMD-COMPLETE", gap=timedelta(seconds=5)
                    )
                    loaded.extend(contents)
                loose = [_ins(TRAYS * PER_TRAY + rng.randint(1, LOOSE)) for _ in range(2)]
                self.numbers[s] += 1
                label = f"STE-A{s}.{self.numbers[s]}"
                self.labels.append(f"site:{label}")
                result = "CMD-CYCLE-FAIL" if rng.random() < 0.01 else "CMD-CYCLE-PASS"
                ste.scan(
                    f"STE-A{s}",
                    label,
                    *(f"TRY-{t:03d}" for t in trays),
                    *loose,
                    gap=timedelta(seconds=10),
                )
                ste.scan(result, gap=timedelta(minutes=40))
                if load == 0:  # the day's BI, read out after the next load went in
                    bi = "CMD-BI-FAIL" if rng.random() < 0.02 else "CMD-BI-PASS"
                    ste.scan(label, bi, gap=timedelta(seconds=10))
        for room in self.rooms:
            room.at = max(room.at, start + timedelta(hours=17))
            for case in range(CASES_PER_ROOM):
                used = rng.sample(loaded, 4)
                room.scan(f"CASE-{d}-{room.agent_id}-{case}", *used, gap=timedelta(minutes=5))
                room.scan("CMD-RETURN", *used, gap=timedelta(minutes=20))
        batches = []
        for station in (*self.benches, *self.sterilizers, *self.rooms):
            events, station.events = station.events, []
            batches += [events[i : i + BATCH] for i in range(0, len(events), BATCH)]
        return batches


def _quantiles(samples: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50_ms": round(cuts[49] * 1000, 2), "p99_ms": round(cuts[98] * 1000, 2)}


def _trace(hub: HubUnderTest, labels: list[str]) -> dict[str, Any]:
    si = session_items.c
    lookup = sa.select(si.item).where(si.session_id == sa.bindparam("sid"), si.action == "add")
    recall_s: list[float] = []
    lookup_s: list[float] = []
    items = 0
    with hub.engine.connect() as conn:
        recall_set(conn, labels[0])  # warm the connection and the plan cache
        for label in labels:
            began = time.perf_counter()
            found = recall_set(conn, label)
            recall_s.append(time.perf_counter() - began)
            assert found is not None and found["loads"], label
            items += len(found["items"])
            load = found["loads"][0]["session_id"]
            began = time.perf_counter()
            conn.execute(lookup, {"sid": load}).all()
            lookup_s.append(time.perf_counter() - began)
    recall, plain = _quantiles(recall_s), _quantiles(lookup_s)
    return {
        "recall": recall,
        "one_load_lookup": plain,
        "recall_items_mean": round(items / len(labels), 1),
        "p99_ratio": round(recall["p99_ms"] / max(plain["p99_ms"], 1e-3), 1),
        "target_met": recall["p99_ms"] < 100,
    }


def main() -> None:
    # The year's codes are not registered: keep the hub's alert log off the JSON line.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scans", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="recall-bench-"))
    # Its own folder: the cluster runs as postgres, and ``work`` is private to this user.
    postgres = Postgres(Path(tempfile.mkdtemp(prefix="recall-bench-pg-")))
    postgres.start()
    try:
        hubs = {
            "sqlite": HubUnderTest(f"sqlite:///{work / 'hub.db'}", step_scans=5000),
            "postgresql": HubUnderTest(postgres.create_database(), step_scans=5000),
        }
        year = Year(rng)
        scans, days = 0, 0
        build_s = dict.fromkeys(hubs, 0.0)
        while scans < args.scans:
            batches = year.day(days)
            scans += sum(len(b) for b in batches)
            days += 1
            for name, hub in hubs.items():
                began = time.perf_counter()
                hub.deliver(*batches)
                build_s[name] += time.perf_counter() - began
            if days % 30 == 0:
                print(f"day {days}: {scans} scans {build_s}", file=sys.stderr, flush=True)
        labels = rng.sample(year.labels, TRACES)
        # The builder's heap (a year of scans through two in-process hubs) is this bench's,
        # not a serving hub's, which freezes what start-up made (hub/__main__.py) and keeps
        # its heap small. Freeze it too, so a trace does not pay a full collection of it.
        gc.collect()
        gc.freeze()
        result: dict[str, Any] = {
            "bench": "recall",
            "scans": scans,
            "days": days,
            "loads": len(year.labels),
            "instruments": TRAYS * PER_TRAY + LOOSE,
            "trays": TRAYS,
            "sterilizers": STERILIZERS,
            "traces": TRACES,
            "build_scans_per_s": {k: round(scans / v) for k, v in build_s.items()},
        }
        for name, hub in hubs.items():
            result[name] = _trace(hub, labels)
            hub.engine.dispose()
        print(json.dumps(result))
    finally:
        postgres.stop()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(postgres.workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
