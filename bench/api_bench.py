"""The five most used reads of the hub's API as clients make them (issue 13).

Builds a hub SQLite database of ``--scans`` scans of a hospital's stations (recall_bench's
Year: benches, sterilizers, operating rooms) through the hub's real writer in process, then
serves it from ``scantrail-hub serve`` as its own process (with its own mosquitto) and asks,
one client, one request at a time:

- fleet: ``GET /api/v1/agents``
- instrument history: ``GET /api/v1/history/{instrument}``, a random instrument each time
- recall: ``GET /api/v1/recalls/{load label}``, a random load each time
- alerts: ``GET /api/v1/alerts?limit=100``
- reference: ``GET /api/v1/reference`` with the current ETag: a 304, as a station polls

Each against a plain SQL query of the same data in the same run (sqlite3 on the same file,
no HTTP): the agents joined to their streams; the code's audit entries; the load's
contents; the first 100 alerts; the instrument catalogue. Prints one JSON line.
Target: p99 <= 50 ms for each read.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import httpx  # noqa: E402
import structlog  # noqa: E402
from recall_bench import PER_TRAY, TRAYS, Year, _ins  # noqa: E402

from hub import refdata  # noqa: E402
from hub.access.roles import Role  # noqa: E402
from hub.store import tokens  # noqa: E402
from hub.store.db import create_engine  # noqa: E402
from tests.harness.mosquitto import Mosquitto  # noqa: E402
from tests.harness.processes import HubProcess  # noqa: E402
from tests.harness.stations import HubUnderTest  # noqa: E402

PLAIN = {
    "fleet": "SELECT * FROM agents a LEFT JOIN agent_streams s "
    "ON s.agent_id = a.agent_id AND s.incarnation = a.incarnation ORDER BY a.agent_id",
    "history": "SELECT * FROM audit_log WHERE entity_key = ? ORDER BY id LIMIT 100",
    "recall": "SELECT i.* FROM cycles c JOIN session_items i ON i.session_id = c.session_id "
    "WHERE c.sterilizer = ? AND c.cycle_number = ?",
    "alerts": "SELECT * FROM alerts ORDER BY id LIMIT 100",
    "reference": "SELECT code, name, category, implant FROM ref_instruments ORDER BY code",
}


def _quantiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    total = sum(ordered)
    return {
        "p50_ms": ordered[len(ordered) // 2] * 1000,
        "p99_ms": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000,
        "per_s": len(ordered) / total if total else float("inf"),
    }


def _timed(calls: int, one: Callable[[int], None]) -> dict[str, float]:
    samples = []
    for n in range(calls):
        began = time.perf_counter()
        one(n)
        samples.append(time.perf_counter() - began)
    return _quantiles(samples)


def build(db: Path, scans: int, seed: int) -> tuple[list[str], int]:
    """The year's scans into ``db``; the load labels and how many scans were stored."""
    hub = HubUnderTest(f"sqlite:///{db}", step_scans=5000)
    year = Year(random.Random(seed))
    stored, day = 0, 0
    while stored < scans:
        batches = year.day(day)
        stored += sum(len(b) for b in batches)
        day += 1
        hub.deliver(*batches)
    catalogue = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)  # noqa: SIM115
    json.dump([{"code": _ins(n), "name": f"Instrument {n}"} for n in range(1, 5001)], catalogue)
    catalogue.close()
    refdata.load(hub.engine, "instruments", Path(catalogue.name))
    Path(catalogue.name).unlink()
    hub.engine.dispose()
    return year.labels, stored


def main() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scans", type=int, default=200_000)
    parser.add_argument("--calls", type=int, default=300, help="requests per read")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="api-bench-"))
    db = work / "hub.db"
    broker = Mosquitto(work / "mosquitto")
    broker.workdir.mkdir(parents=True)
    try:
        began = time.perf_counter()
        labels, stored = build(db, args.scans, args.seed)
        build_s = time.perf_counter() - began
        engine = create_engine(f"sqlite:///{db}")
        with engine.begin() as conn:
            now = datetime.now(UTC)
            _, admin = tokens.create(conn, "bench", Role.ADMIN, now, None)
            _, station = tokens.create(conn, "bench-station", Role.AGENT, now, None)
        engine.dispose()
        broker.start()
        hub = HubProcess(work / "hub", f"sqlite:///{db}", broker.port)
        hub.start()
        instruments = [_ins(rng.randint(1, TRAYS * PER_TRAY)) for _ in range(args.calls)]
        loads = [rng.choice(labels) for _ in range(args.calls)]
        client = httpx.Client(base_url=hub.base_url, timeout=30)
        admin_h = {"Authorization": f"Bearer {admin}"}
        first = client.get("/api/v1/reference", headers={"Authorization": f"Bearer {station}"})
        station_h = {"Authorization": f"Bearer {station}", "If-None-Match": first.headers["etag"]}

        def get(path: str, headers: dict[str, str], status: int = 200) -> None:
            response = client.get(path, headers=headers)
            assert response.status_code == status, (path, response.status_code, response.text)

        api = {
            "fleet": lambda n: get("/api/v1/agents", admin_h),
            "history": lambda n: get(f"/api/v1/history/{instruments[n]}", admin_h),
            "recall": lambda n: get(f"/api/v1/recalls/{loads[n]}", admin_h),
            "alerts": lambda n: get("/api/v1/alerts?limit=100", admin_h),
            "reference": lambda n: get("/api/v1/reference", station_h, 304),
        }
        sql = sqlite3.connect(db)

        def plain(name: str) -> Callable[[int], None]:
            def one(n: int) -> None:
                if name == "history":
                    params: tuple[Any, ...] = (f"site:{instruments[n]}",)
                elif name == "recall":
                    sterilizer, _, number = loads[n].rpartition(".")
                    params = (sterilizer, number)
                else:
                    params = ()
                sql.execute(PLAIN[name], params).fetchall()

            return one

        result: dict[str, Any] = {"bench": "api", "scans": stored, "build_s": round(build_s, 1)}
        for name, call in api.items():
            ours = _timed(args.calls, call)
            base = _timed(args.calls, plain(name))
            result[name] = {
                "api": ours,
                "plain_sql": base,
                "p99_vs_plain": ours["p99_ms"] / base["p99_ms"],
                "target_p99_ms": 50,
                "met": ours["p99_ms"] <= 50,
            }
        client.close()
        sql.close()
        hub.stop()
        print(json.dumps(result))
    finally:
        broker.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
