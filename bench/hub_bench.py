"""Hub figures, each as a ratio against a baseline measured in this same run.

- reconciled scans per second through the real ingest transaction (``IngestWorker.process``:
  decode, raw log, watermark, reconcile, audit, commit), 20 messages of 100 scans per
  transaction, on SQLite and on PostgreSQL, against raw inserts of the same scan rows
  into a plain table with the same durability and the same rows per transaction;
- p99 from MQTT publish to committed record (the hub's ack is published after the commit)
  with 200 simulated agents each scanning once a second, against the p99 of a raw insert
  and commit of one such row.
The scans come from the real station rules (tests/harness/stations.py): a realistic mix of
loads, trays, cases, moves and loans. Prints one JSON line. Needs mosquitto and PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from hub.bootstrap import bootstrap  # noqa: E402
from hub.settings import HubSettings, MqttSettings  # noqa: E402
from protocol.messages import ScanEvent  # noqa: E402
from tests.harness import mqtt_client  # noqa: E402
from tests.harness.mosquitto import Mosquitto  # noqa: E402
from tests.harness.postgres import Postgres  # noqa: E402
from tests.harness.stations import HubUnderTest, ScriptedStation, message  # noqa: E402

MESSAGES_PER_TXN = 20
EVENTS_PER_MESSAGE = 100


def workload(agents: int, scans_each: int, seed: int = 7) -> list[list[ScanEvent]]:
    """Each agent's scans, from a station of each mode in turn."""
    rng = random.Random(seed)
    modes = ["sterilizer", "tray_assembly", "point_of_use", "asset_move", "equipment_checkout"]
    streams = []
    for n in range(agents):
        station = ScriptedStation(f"pi-{n:03d}", modes[n % len(modes)])
        while len(station.events) < scans_each:
            _session(rng, station, n)
        streams.append(station.events[:scans_each])
    return streams


def _session(rng: random.Random, station: ScriptedStation, n: int) -> None:
    ins = [f"INS-{n}-{i}" for i in rng.sample(range(200), 12)]
    mode = station.state.mode
    if mode == "sterilizer":
        station.scan("STE-A1", f"STE-A1.{len(station.events)}", *ins, "CMD-CYCLE-PASS")
    elif mode == "tray_assembly":
        station.scan(f"TRY-{n}-{rng.randint(0, 50)}", *ins, "CMD-COMPLETE")
    elif mode == "point_of_use":
        station.scan(f"CASE-{n}-{len(station.events)}", *ins[:6], "CMD-RETURN", *ins[:6])
    elif mode == "asset_move":
        assets = [f"AST-{n}-{i}" for i in rng.sample(range(100), 3)]
        station.scan(*assets, f"LOC-{rng.randint(0, 40)}")
    else:
        walker = f"AST-W{n}-{rng.randint(0, 20)}"
        station.scan(
            f"PAT-{rng.randint(0, 999)}", walker, "CMD-DONE", walker, "CMD-CLEANED", walker
        )


def _messages(streams: list[list[ScanEvent]]) -> list[Any]:
    out = []
    for events in streams:
        for at in range(0, len(events), EVENTS_PER_MESSAGE):
            out.append(message(events[at : at + EVENTS_PER_MESSAGE]))
    return out


def ours_rate(database_url: str, streams: list[list[ScanEvent]]) -> float:
    hub = HubUnderTest(database_url)
    messages = _messages(streams)
    total = sum(len(s) for s in streams)
    start = time.perf_counter()
    for at in range(0, len(messages), MESSAGES_PER_TXN):
        hub.worker.process(messages[at : at + MESSAGES_PER_TXN])
    elapsed = time.perf_counter() - start
    hub.engine.dispose()
    return total / elapsed


def _rows(streams: list[list[ScanEvent]]) -> list[tuple[Any, ...]]:
    now = datetime.now(UTC).isoformat()
    return [
        (
            e.agent_id,
            e.incarnation,
            e.seq,
            str(e.event_id),
            e.scanned_at.isoformat(),
            now,
            e.raw,
            e.model_dump_json(),
            "0" * 64,
        )
        for events in streams
        for e in events
    ]


RAW_TABLE = (
    "CREATE TABLE raw_scans (id INTEGER PRIMARY KEY, agent_id TEXT, incarnation TEXT, seq BIGINT,"
    " event_id TEXT, scanned_at TEXT, received_at TEXT, raw TEXT, payload TEXT, hash TEXT,"
    " UNIQUE (agent_id, incarnation, seq))"
)
RAW_INSERT = (
    "INSERT INTO raw_scans (agent_id, incarnation, seq, event_id, scanned_at, received_at, raw,"
    " payload, hash) VALUES ({0}, {0}, {0}, {0}, {0}, {0}, {0}, {0}, {0})"
)
PER_TXN = MESSAGES_PER_TXN * EVENTS_PER_MESSAGE


def raw_sqlite(path: Path, rows: list[tuple[Any, ...]]) -> tuple[float, list[float]]:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute(RAW_TABLE)
    sql = RAW_INSERT.format("?")
    start = time.perf_counter()
    for at in range(0, len(rows), PER_TXN):
        db.execute("BEGIN")
        db.executemany(sql, rows[at : at + PER_TXN])
        db.execute("COMMIT")
    rate = len(rows) / (time.perf_counter() - start)
    latencies = []
    for row in rows[:500]:
        t = time.perf_counter()
        db.execute("BEGIN")
        db.execute(sql, (row[0] + "-1", *row[1:]))
        db.execute("COMMIT")
        latencies.append(time.perf_counter() - t)
    db.close()
    return rate, latencies


def raw_postgres(dsn: str, rows: list[tuple[Any, ...]]) -> float:
    with psycopg.connect(dsn) as db:
        db.execute(RAW_TABLE.replace("INTEGER PRIMARY KEY", "BIGSERIAL PRIMARY KEY"))
        db.commit()
        sql = RAW_INSERT.format("%s")
        start = time.perf_counter()
        with db.cursor() as cur:
            for at in range(0, len(rows), PER_TXN):
                cur.executemany(sql, rows[at : at + PER_TXN])
                db.commit()
        return len(rows) / (time.perf_counter() - start)


def publish_to_commit_p99(port: int, database_url: str, agents: int, seconds: int) -> list[float]:
    """200 agents each publish one scan a second; time each until its ack (after commit)."""
    hub = bootstrap(HubSettings(database_url=database_url, mqtt=MqttSettings(port=port)))
    hub.start()
    hub.consumer.connected.wait(10)
    streams = workload(agents, seconds)
    sent: dict[tuple[str, int], float] = {}
    latencies: list[float] = []
    done = threading.Event()

    def on_ack(client: Any, userdata: Any, msg: Any) -> None:
        ack = json.loads(msg.payload)
        now = time.perf_counter()
        for key in [k for k in sent if k[0] == ack["agent_id"] and k[1] <= ack["confirmed_seq"]]:
            latencies.append(now - sent.pop(key))
        if len(latencies) == agents * seconds:
            done.set()

    listener = mqtt_client.connect(port)
    listener.on_message = on_ack
    listener.subscribe("scantrail/v1/agents/+/ack", qos=1)
    publisher = mqtt_client.connect(port)
    time.sleep(0.5)
    for second in range(seconds):
        tick = time.perf_counter()
        for n, events in enumerate(streams):
            payload = message([events[second]]).payload
            sent[(events[second].agent_id, events[second].seq)] = time.perf_counter()
            publisher.publish(f"scantrail/v1/agents/pi-{n:03d}/scans", payload, qos=1)
            time.sleep(max(0.0, tick + (n + 1) / agents - time.perf_counter()))
    done.wait(30)
    for client in (publisher, listener):
        client.disconnect()
        client.loop_stop()
    hub.stop()
    return latencies


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--scans-each", type=int, default=1000)
    parser.add_argument("--latency-seconds", type=int, default=20)
    args = parser.parse_args()
    streams = workload(args.agents, args.scans_each)
    rows = _rows(streams)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        sqlite_rate = ours_rate(f"sqlite:///{tmp / 'ours.db'}", streams)
        raw_rate, raw_lat = raw_sqlite(tmp / "raw.db", rows)
        postgres = Postgres(Path(tempfile.mkdtemp(prefix="scantrail-bench-pg-")))
        postgres.start()
        try:
            pg_rate = ours_rate(postgres.create_database(), streams)
            raw_pg_rate = raw_postgres(postgres.create_database(), rows)
        finally:
            postgres.stop()
        (tmp / "mq").mkdir()
        broker = Mosquitto(tmp / "mq", persistence=False)
        broker.start()
        try:
            latencies = publish_to_commit_p99(
                broker.port, f"sqlite:///{tmp / 'latency.db'}", 200, args.latency_seconds
            )
        finally:
            broker.kill()
    p99 = _p99(latencies)
    print(
        json.dumps(
            {
                "bench": "hub",
                "scans": len(rows),
                "sqlite_reconciled_per_s": round(sqlite_rate),
                "sqlite_raw_insert_per_s": round(raw_rate),
                "sqlite_ratio_vs_raw": round(sqlite_rate / raw_rate, 3),
                "postgres_reconciled_per_s": round(pg_rate),
                "postgres_raw_insert_per_s": round(raw_pg_rate),
                "postgres_ratio_vs_raw": round(pg_rate / raw_pg_rate, 3),
                "latency_agents": 200,
                "latency_scans": len(latencies),
                "publish_to_commit_p50_ms": round(statistics.median(latencies) * 1000, 1),
                "publish_to_commit_p99_ms": round(p99 * 1000, 1),
                "raw_insert_commit_p99_ms": round(_p99(raw_lat) * 1000, 2),
                "p99_ratio_vs_raw_insert": round(p99 / _p99(raw_lat), 1),
            }
        )
    )


if __name__ == "__main__":
    main()
