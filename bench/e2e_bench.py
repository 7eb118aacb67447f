"""The hub as users run it: hub, broker and agents as separate processes (DESIGN.md §8).

Every figure is a ratio against a baseline measured in this same run: ``bench/raw_hub.py``,
a plain paho subscriber that inserts the same events into the same database (SQLite in
WAL with synchronous=FULL, or PostgreSQL through psycopg with ``--database postgresql``, a
throwaway cluster the bench starts itself), commits every 20 ms and publishes the same
ack. Each target gets a fresh broker.

1. steady, for each count of ``--stations`` (default 200): that many simulated agents each
   send one single-scan message a second (as a station sends a scan) for ``--steady-s``
   seconds: publish -> ack p50/p99, and for the hub publish -> projected record p99 (the
   projection cursor read from the hub's database), its CPU per 1,000 scans, and its
   database calls per scan by stage (its ``/metrics``); on PostgreSQL also the statements
   the server ran per scan (``pg_stat_statements``, the same for any hub version).
2. sustained: single-scan messages from 200 agents, at most 400 awaiting their ack:
   messages acked per second.
3. drain: 4 real agent processes, each with 25,000 scans in its outbox, started together;
   they send in their configured batches. The baseline gets the same outbox rows in
   100-event messages. Scans confirmed per second, from the first ack to the last; then
   the projection's throughput against raw inserts of the same rows (every scan_log row
   the hub stored, into an empty copy of its scan_log table), and the hub's peak RSS
   (VmHWM) over the whole run. For comparison with earlier runs the projection is also
   given against the former baseline, the drain's scans as 3-column rows
   (``projection_vs_narrow_inserts``), which SQLite takes about twice as fast.

The scans come from the agent's real station rules, a station of each mode in turn.
Prints one JSON line. Needs mosquitto and PostgreSQL (``make bench`` installs them).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from agent.clock import SystemClock  # noqa: E402
from agent.intake import Intake  # noqa: E402
from agent.outbox import OutboxReader, OutboxStore  # noqa: E402
from agent.station import Station  # noqa: E402
from bench.databases import Cursors, PostgresBench, SqliteBench, open_bench  # noqa: E402
from bench.traffic import MODES, station_texts  # noqa: E402
from protocol import codec  # noqa: E402
from protocol.barcodes import DEFAULT_RULES  # noqa: E402
from protocol.messages import EventBatch, ScanEvent  # noqa: E402
from tests.harness.mosquitto import Mosquitto  # noqa: E402
from tests.harness.processes import AgentProcess, HubProcess  # noqa: E402
from tests.harness.stations import ScriptedStation  # noqa: E402
from tests.harness.waiting import wait_for  # noqa: E402

AGENTS = 200  # the sustained phase's agents
METRICS_TOKEN = "bench-scrape-token-" + "0" * 16  # 32 characters at least
WINDOW = 400
DRAIN_AGENTS = 4


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


# -- traffic -------------------------------------------------------------------------------------


def single_scan_messages(prefix: str, agents: int, each: int, seed: int) -> list[list[bytes]]:
    """Per agent, its scans one per message, as a station sends them in steady state."""
    rng = random.Random(seed)
    out = []
    for n in range(agents):
        station = ScriptedStation(f"{prefix}{n:03d}", MODES[n % len(MODES)])
        texts = station_texts(rng, MODES[n % len(MODES)], each * 2, f"{prefix}{n}")
        for text in texts:
            if len(station.events) >= each:
                break
            station.scan(text)
        out.append([_one(event) for event in station.events[:each]])
    return out


def _one(event: ScanEvent) -> bytes:
    return codec.encode(EventBatch(agent_id=event.agent_id, incarnation="inc1", events=(event,)))


# -- the load generator: publishes as many agents, times their acks ------------------------------


class Load:
    def __init__(self, port: int) -> None:
        self.pending: dict[str, deque[tuple[int, float]]] = {}
        self.projecting: dict[str, deque[tuple[int, float]]] = {}
        self.ack_ms: list[float] = []
        self.projected_ms: list[float] = []
        self.acked = 0
        self.confirmed: dict[str, int] = {}
        self.first_ack_at: float | None = None
        self._lock = threading.Lock()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="bench-load", protocol=MQTTProtocolVersion.MQTTv5
        )
        self.client.max_inflight_messages_set(1000)
        self.client.on_message = self._on_ack
        self.client.connect("127.0.0.1", port)
        self.client.subscribe("scantrail/v1/agents/+/ack", qos=1)
        self.client.loop_start()

    def publish(self, agent: str, seq: int, payload: bytes) -> None:
        now = time.perf_counter()
        with self._lock:
            self.pending.setdefault(agent, deque()).append((seq, now))
            self.projecting.setdefault(agent, deque()).append((seq, now))
        self.client.publish(f"scantrail/v1/agents/{agent}/scans", payload, qos=1)

    def _on_ack(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        now = time.perf_counter()
        body = json.loads(msg.payload)
        agent, confirmed = body["agent_id"], body["confirmed_seq"]
        with self._lock:
            if self.first_ack_at is None:
                self.first_ack_at = now
            self.confirmed[agent] = max(self.confirmed.get(agent, 0), confirmed)
            waiting = self.pending.get(agent)
            while waiting and waiting[0][0] <= confirmed:
                _, at = waiting.popleft()
                self.ack_ms.append((now - at) * 1000)
                self.acked += 1

    def projected(self, positions: dict[str, int]) -> None:
        now = time.perf_counter()
        with self._lock:
            for agent, seq in positions.items():
                waiting = self.projecting.get(agent)
                while waiting and waiting[0][0] <= seq:
                    _, at = waiting.popleft()
                    self.projected_ms.append((now - at) * 1000)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class CursorPoller:
    """Reads the hub's projection cursors from its database, as often as it can."""

    def __init__(self, read: Cursors, on_read: Callable[[dict[str, int]], None]) -> None:
        self._read = read
        self._on_read = on_read
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            if rows := self._read():
                self._on_read(rows)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


class Meter:
    """What the hub spent on a phase: CPU seconds (its process), database calls by stage
    (its /metrics) and, on PostgreSQL, the statements the server ran for its database."""

    def __init__(self, hub: HubProcess, db: SqliteBench | PostgresBench) -> None:
        self._hub = hub
        self._db = db

    def read(self) -> dict[str, float]:
        assert self._hub.proc is not None
        fields = Path(f"/proc/{self._hub.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        out = {"cpu_s": (int(fields[11]) + int(fields[12])) / ticks}
        headers = {"Authorization": f"Bearer {METRICS_TOKEN}"}
        text = httpx.get(f"{self._hub.base_url}/metrics", headers=headers, timeout=30).text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "scantrail_scans_ingested_total":
                    out["scans"] = sample.value
                elif sample.name == "scantrail_database_calls_total":
                    out[f"calls_{sample.labels['stage']}"] = sample.value
        statements = self._db.statements(self._hub.database_url)
        if statements is not None:
            out["statements"] = statements
        return out

    @staticmethod
    def per_scan(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        scans = after.get("scans", 0) - before.get("scans", 0)
        if scans <= 0:
            return {}
        out = {"cpu_ms_per_1000_scans": (after["cpu_s"] - before["cpu_s"]) * 1e6 / scans}
        for key in after:
            if key.startswith("calls_") or key == "statements":
                name = "db_" + key + "_per_scan"
                out[name] = (after[key] - before.get(key, 0)) / scans
        return out


# -- phases --------------------------------------------------------------------------------------


def steady(load: Load, messages: list[list[bytes]], prefix: str) -> None:
    """Each agent sends one message a second, spread evenly over the second."""
    agents = len(messages)
    start = time.perf_counter()
    for second in range(len(messages[0])):
        for n in range(agents):
            due = start + second + n / agents
            if (delay := due - time.perf_counter()) > 0:
                time.sleep(delay)
            load.publish(f"{prefix}{n:03d}", second + 1, messages[n][second])
    total = agents * len(messages[0])
    wait_for(lambda: _all_acked(load, total), timeout=120, interval=0.05)


def _all_acked(load: Load, total: int) -> None:
    assert load.acked >= total, f"{load.acked}/{total} acked"


def sustained(load: Load, messages: list[list[bytes]], prefix: str) -> float:
    """Closed loop: keep at most WINDOW messages awaiting their ack; messages acked/s."""
    order = [(n, s) for s in range(len(messages[0])) for n in range(len(messages))]
    base = load.acked
    start = time.perf_counter()
    for sent, (n, s) in enumerate(order):
        while sent - (load.acked - base) >= WINDOW:
            time.sleep(0.0005)
        load.publish(f"{prefix}{n:03d}", s + 1, messages[n][s])
    wait_for(lambda: _all_acked(load, base + len(order)), timeout=300, interval=0.01)
    return len(order) / (time.perf_counter() - start)


def fill_outboxes(root: Path, each: int) -> list[Path]:
    """DRAIN_AGENTS outboxes of ``each`` kept scans, through the agent's real intake."""
    rng = random.Random(11)
    paths = []
    for n in range(DRAIN_AGENTS):
        mode = MODES[n % len(MODES)]
        data = root / f"pi-drain-{n}" / "data"
        data.mkdir(parents=True)
        store = OutboxStore(data / "outbox.db", 10**10)
        store.open()
        intake = Intake(
            f"pi-drain-{n}",
            store,
            Station(f"pi-drain-{n}", mode, DEFAULT_RULES),
            SystemClock(),
            _Quiet(),
            lambda incarnation, seq: None,
            0,
        )
        intake.start()
        futures = [intake.submit(t, "bench") for t in station_texts(rng, mode, each, str(n))]
        kept = sum(1 for f in futures if f.result().kept)
        assert kept == each, f"only {kept} of {each} scans kept"
        intake.stop()
        store.close()
        paths.append(data / "outbox.db")
    return paths


class _Quiet:
    def show(self, feedback: Any) -> None:
        pass


def drain_ours(root: Path, port: int, load: Load, each: int, cursors: Cursors) -> dict[str, float]:
    agents = [
        AgentProcess(
            root / f"pi-drain-{n}",
            f"pi-drain-{n}",
            port,
            mode=MODES[n % len(MODES)],
            resend_after_s=10.0,
            resend_max_s=300.0,
            health_interval_s=10.0,
        )
        for n in range(DRAIN_AGENTS)
    ]
    totals = {
        a.agent_id: _outbox_last_seq(root / a.agent_id / "data" / "outbox.db") for a in agents
    }
    projected_at: dict[str, float] = {}

    projected_count = {"now": 0}

    def on_read(positions: dict[str, int]) -> None:
        done = sum(min(positions.get(a, 0), t) for a, t in totals.items())
        projected_count["now"] = done
        now = time.perf_counter()
        if done and "first" not in projected_at:
            projected_at["first"] = now
        if done >= sum(totals.values()) and "last" not in projected_at:
            projected_at["last"] = now

    poller = CursorPoller(cursors, on_read)
    load.first_ack_at = None
    for agent in agents:
        agent.start()
    try:
        wait_for(lambda: _confirmed(load, totals), timeout=600, interval=0.05)
        acked_at = time.perf_counter()
        left_at_ack = sum(totals.values()) - projected_count["now"]
        wait_for(lambda: _has(projected_at, "last"), timeout=900, interval=0.1)
    finally:
        poller.stop()
        sent = sum(a.status()["events_sent"] for a in agents)
        for agent in agents:
            agent.stop()
    assert load.first_ack_at is not None
    total = sum(totals.values())
    return {
        "scans": total,
        "scans_per_s": total / (acked_at - load.first_ack_at),
        "events_sent_per_scan": sent / total,
        # While messages wait the projector takes small steps (ingest first), so its own
        # throughput is the catch-up after the last ack, when it runs flat out.
        "projected_per_s": left_at_ack / max(projected_at["last"] - acked_at, 1e-9),
        "projected_during_drain_per_s": total / (projected_at["last"] - projected_at["first"]),
        "projection_caught_up_after_s": projected_at["last"] - acked_at,
    }


def _has(found: dict[str, float], key: str) -> None:
    assert key in found


def _confirmed(load: Load, totals: dict[str, int]) -> None:
    for agent, total in totals.items():
        assert load.confirmed.get(agent, 0) >= total, f"{agent}: {load.confirmed.get(agent)}"


def _outbox_last_seq(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT max(seq) FROM outbox").fetchone()[0])


def drain_raw(
    outboxes: list[Path], port: int, load: Load, batch: int = 100, window: int = 8
) -> float:
    """The same outbox rows in ``batch``-event messages, each agent with ``window`` awaiting
    PUBACK, as fast as the broker takes them."""
    bodies: list[tuple[str, list[bytes]]] = []
    totals = {}
    for path in outboxes:
        reader = OutboxReader(path)
        rows = reader.pending(1, 10**9)
        reader.close()
        agent = path.parent.parent.name
        incarnation = json.loads(rows[0].payload)["incarnation"]
        totals[agent] = rows[-1].seq
        chunks = [rows[i : i + batch] for i in range(0, len(rows), batch)]
        bodies.append(
            (
                agent,
                [
                    (
                        f'{{"agent_id":"{agent}","incarnation":"{incarnation}","events":['
                        + ",".join(r.payload for r in chunk)
                        + "]}"
                    ).encode()
                    for chunk in chunks
                ],
            )
        )
    load.first_ack_at = None

    def publish(agent: str, messages: list[bytes]) -> None:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
        client.max_inflight_messages_set(window)
        client.connect("127.0.0.1", port)
        client.loop_start()
        infos = [client.publish(f"scantrail/v1/agents/{agent}/scans", m, qos=1) for m in messages]
        for info in infos:
            info.wait_for_publish(timeout=300)
        client.disconnect()
        client.loop_stop()

    threads = [threading.Thread(target=publish, args=b) for b in bodies]
    for thread in threads:
        thread.start()
    wait_for(lambda: _confirmed(load, totals), timeout=600, interval=0.02)
    done = time.perf_counter()
    for thread in threads:
        thread.join()
    assert load.first_ack_at is not None
    return sum(totals.values()) / (done - load.first_ack_at)


def raw_inserts(outboxes: list[Path], tmp: Path) -> float:
    """Raw inserts of the drain's scans as a 3-column row (agent, seq, payload), 1,000 per
    transaction, WAL + synchronous=FULL: the baseline of sessions before this one, kept
    so figures stay comparable (it is about twice as fast as inserting the hub's rows)."""
    rows = []
    for path in outboxes:
        reader = OutboxReader(path)
        rows += [(path.parent.parent.name, r.seq, r.payload) for r in reader.pending(1, 10**9)]
        reader.close()
    db = sqlite3.connect(tmp / "inserts.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE t (agent TEXT, seq INTEGER, payload TEXT, PRIMARY KEY (agent, seq))")
    start = time.perf_counter()
    for at in range(0, len(rows), 1000):
        db.execute("BEGIN")
        db.executemany("INSERT INTO t VALUES (?, ?, ?)", rows[at : at + 1000])
        db.execute("COMMIT")
    rate = len(rows) / (time.perf_counter() - start)
    db.close()
    return rate


def _rss_peak_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmHWM"))
    return int(line.split()[1]) / 1024


# -- targets -------------------------------------------------------------------------------------


def run_target(
    name: str,
    tmp: Path,
    args: argparse.Namespace,
    outboxes: list[Path],
    db: SqliteBench | PostgresBench,
) -> dict[str, Any]:
    root = tmp / name
    broker = Mosquitto(root / "mosquitto")
    broker.workdir.mkdir(parents=True)
    broker.start()
    url = db.url(name)
    raw: subprocess.Popen[bytes] | None = None
    hub: HubProcess | None = None
    out: dict[str, Any] = {"steady": {}}
    load: Load | None = None
    try:  # the broker (and whatever started) is stopped even when a start fails
        if name == "hub":
            extra = {"api": {"metrics_token": METRICS_TOKEN}}
            hub = HubProcess(root / "hub", url, broker.port, extra=extra)
            hub.start()
        else:
            raw = subprocess.Popen(
                [sys.executable, str(ROOT / "bench" / "raw_hub.py"), str(broker.port), url],
                stdout=subprocess.PIPE,
            )
            assert raw.stdout is not None and raw.stdout.readline().strip() == b"ready"
        meter = Meter(hub, db) if hub is not None else None
        for stations in args.stations:
            load = Load(broker.port)  # one per count: its figures are that count's alone
            prefix = f"s{stations}-"
            poller = CursorPoller(db.cursors(url), load.projected) if hub else None
            before = meter.read() if meter else {}
            phase: dict[str, Any] = {}
            try:
                steady(load, single_scan_messages(prefix, stations, args.steady_s, 1), prefix)
                phase["ack_p50_ms"] = _pct(load.ack_ms, 0.50)
                phase["ack_p99_ms"] = _pct(load.ack_ms, 0.99)
                if poller is not None:
                    wait_for(lambda load=load: _projected(load), timeout=300, interval=0.05)
                    phase["projected_p99_ms"] = _pct(load.projected_ms, 0.99)
            finally:
                if poller is not None:
                    poller.stop()
            if meter is not None:
                phase.update(Meter.per_scan(before, meter.read()))
            out["steady"][str(stations)] = phase
            load.close()
            load = None
        load = Load(broker.port)
        before = meter.read() if meter else {}
        sustained_msgs = single_scan_messages("su", AGENTS, args.sustained // AGENTS, 2)
        out["sustained_msgs_per_s"] = sustained(load, sustained_msgs, "su")
        if meter is not None:
            out["sustained_per_scan"] = Meter.per_scan(before, meter.read())
        if args.drain_each == 0:
            pass
        elif hub is not None:
            before = meter.read() if meter else {}
            cursors = db.cursors(url)
            out.update(drain_ours(tmp / "drain-hub", broker.port, load, args.drain_each, cursors))
            if meter is not None:
                out["drain_per_scan"] = Meter.per_scan(before, meter.read())
            assert hub.proc is not None
            out["rss_peak_mb"] = _rss_peak_mb(hub.proc.pid)
        else:
            out["scans_per_s"] = drain_raw(outboxes, broker.port, load)
    finally:
        if load is not None:
            load.close()
        if hub is not None:
            hub.stop()
        if raw is not None:
            raw.kill()
            raw.wait()
        broker.kill()
    return out


def _projected(load: Load) -> None:
    assert all(not waiting for waiting in load.projecting.values())


def _counts(text: str) -> list[int]:
    return [int(n) for n in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--stations", type=_counts, default=[AGENTS], help="steady phases: e.g. 200,500"
    )
    parser.add_argument("--steady-s", type=int, default=30, help="seconds of steady traffic")
    parser.add_argument("--sustained", type=int, default=10_000, help="messages, closed loop")
    parser.add_argument(
        "--drain-each", type=int, default=25_000, help="scans per drain agent (0: no drain)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the run's files and logs")
    parser.add_argument("--only", choices=["hub", "raw"], help="measure one target")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="scantrail-e2e-"))
    print(f"files in {tmp}", file=sys.stderr)
    db = open_bench(args.database, tmp)
    inserts: dict[str, float] = {}
    try:
        outboxes = fill_outboxes(tmp / "drain-hub", max(args.drain_each, 1))
        raw = {} if args.only == "hub" else run_target("raw", tmp, args, outboxes, db)
        if args.drain_each:
            inserts["narrow_inserts_per_s"] = raw_inserts(outboxes, tmp)
        ours = {} if args.only == "raw" else run_target("hub", tmp, args, outboxes, db)
        if ours and args.drain_each:
            inserts["inserts_per_s"] = db.scan_log_inserts(db.url("hub"))
    finally:
        db.close()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    if args.only:
        print(json.dumps({"bench": "e2e", args.only: ours or raw, **inserts}))
        return
    ratios: dict[str, float] = {}
    for count in ours["steady"]:
        mine, theirs = ours["steady"][count], raw["steady"][count]
        ratios[f"ack_p99_vs_raw@{count}"] = mine["ack_p99_ms"] / theirs["ack_p99_ms"]
        ratios[f"projected_p99_vs_raw_ack_p99@{count}"] = (
            mine["projected_p99_ms"] / theirs["ack_p99_ms"]
        )
    ratios["sustained_vs_raw"] = ours["sustained_msgs_per_s"] / raw["sustained_msgs_per_s"]
    if args.drain_each:
        ratios["drain_vs_raw"] = ours["scans_per_s"] / raw["scans_per_s"]
        ratios["projection_vs_raw_inserts"] = ours["projected_per_s"] / inserts["inserts_per_s"]
    result = {
        "bench": "e2e",
        "database": args.database,
        "hub": ours,
        "raw": {**raw, **inserts},
        "ratios": ratios,
        "targets": {
            "ack_p99_vs_raw": "<= 3",
            "projected_p99_vs_raw_ack_p99@200": "<= 5",
            "sustained_vs_raw": ">= 0.5",
            "drain_vs_raw": ">= 0.25",
            "rss_peak_mb": "<= 250",
        },
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
