"""Several hubs on one PostgreSQL, measured as they run: 1, 2 and 3 hub processes behind
one mosquitto, the same simulated stations (tests/harness/fleet.py: one scan a second
each, one scan per message, re-sent from the watermark when the ack stalls), each phase
on a fresh broker and database of one throwaway PostgreSQL cluster.

This machine has two cores, so throughput cannot scale here. The bench reports instead
what predicts scale on a bigger machine (issue 31):

- CPU seconds per 1,000 scans: each hub's (its CPU over the scans it ingested, from its
  /metrics), all hubs' together, and PostgreSQL's (every process of the cluster);
- lock waits: the share of 0.2 s samples in which some backend of the phase's database
  waited on a lock (pg_stat_activity);
- resend amplification: scan messages the stations sent per scan;
- ack p50/p99 (first send -> the ack that covered it), against the raw baseline
  (bench/raw_hub.py, a plain subscriber inserting into the same PostgreSQL) measured in
  this run, outside failover windows;
- failover, with 3 hubs: the leader killed (SIGKILL) -> the projection moving again; a
  hub killed -> every scan the stations had sent when it died acked by another hub.

    python bench/cluster_bench.py [--stations 200] [--seconds 45] [--hubs 1 2 3]

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psycopg  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from tests.harness.cluster import Cluster  # noqa: E402
from tests.harness.fleet import SimulatedFleet  # noqa: E402
from tests.harness.mosquitto import Mosquitto  # noqa: E402
from tests.harness.postgres import Postgres  # noqa: E402
from tests.harness.processes import HubProcess  # noqa: E402
from tests.harness.waiting import wait_for  # noqa: E402

METRICS_TOKEN = "cluster-bench-scrape-" + "0" * 16
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def cluster_cpu_s(server: Postgres) -> float:
    """The postmaster's CPU and its children's, living and reaped."""
    postmaster = int((server.data / "postmaster.pid").read_text().split()[0])
    fields = Path(f"/proc/{postmaster}/stat").read_text().rsplit(")", 1)[1].split()
    total = sum(int(f) for f in fields[11:15]) / TICKS  # utime stime cutime cstime
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == postmaster:
                total += (int(stat[11]) + int(stat[12])) / TICKS
    return total


def ingested(hub: HubProcess) -> float:
    headers = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    text = httpx.get(f"{hub.base_url}/metrics", headers=headers, timeout=30).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "scantrail_scans_ingested_total":
                return float(sample.value)
    return 0.0


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


class LockSampler:
    """Every 0.2 s: does any backend of the database wait on a lock?"""

    def __init__(self, dsn: str, name: str) -> None:
        self._conn = psycopg.connect(dsn, autocommit=True)
        self._name = name
        self.samples = 0
        self.waiting = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            row = self._conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                "AND wait_event_type = 'Lock'",
                (self._name,),
            ).fetchone()
            self.samples += 1
            self.waiting += 1 if row and row[0] else 0

    def stop(self) -> float:
        self._stop.set()
        self._thread.join(timeout=10)
        self._conn.close()
        return round(self.waiting / max(1, self.samples), 3)


def steady(fleet: SimulatedFleet, seconds: float) -> dict[str, Any]:
    fleet.start()
    time.sleep(seconds)
    fleet.stop_scanning()
    wait_for(fleet.settled, timeout=300, interval=0.2)
    return {
        "scans": fleet.scans,
        "ack_p50_ms": pct(fleet.ack_ms, 0.5),
        "ack_p99_ms": pct(fleet.ack_ms, 0.99),
        "amplification": round(fleet.events_sent / max(1, fleet.scans), 3),
    }


def baseline(work: Path, server: Postgres, args: argparse.Namespace) -> dict[str, Any]:
    broker = Mosquitto(work / "mosquitto")
    broker.workdir.mkdir(parents=True)
    broker.start()
    raw = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "bench" / "raw_hub.py"),
            str(broker.port),
            server.create_database(),
        ],
        stdout=subprocess.PIPE,
    )
    fleet = None
    try:
        assert raw.stdout is not None and raw.stdout.readline().strip() == b"ready"
        fleet = SimulatedFleet(broker.port, args.stations, tag="raw")
        return steady(fleet, args.seconds)
    finally:
        if fleet is not None:
            fleet.close()
        raw.kill()
        raw.wait()
        broker.kill()


def projected_total(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT coalesce(sum(projected_seq), 0) FROM agent_streams").fetchone()
    return int(row[0]) if row else 0


def failover(cluster: Cluster, fleet: SimulatedFleet, dsn: str) -> dict[str, Any]:
    """Kill the leader, then a follower, while the fleet scans."""
    fleet.start()
    out: dict[str, Any] = {}
    for role in ("leader", "follower"):
        time.sleep(5)
        leader = cluster.leader()
        victim = (
            leader if role == "leader" else next(h for h in cluster.running() if h is not leader)
        )
        sent = fleet.last_seqs()
        before = projected_total(dsn)
        victim.kill()
        died = time.monotonic()
        moving = acked = None
        while moving is None or acked is None:
            now = time.monotonic() - died
            if moving is None and role == "leader" and projected_total(dsn) > before:
                moving = round(now, 2)
            if acked is None and fleet.confirmed_past(sent):
                acked = round(now, 2)
            if role != "leader":
                moving = moving or 0.0
            if now > 120:
                break
            time.sleep(0.05)
        if role == "leader":
            out["projector_failover_s"] = moving
        out[f"{role}_death_acks_s"] = acked
        victim.start()
    fleet.stop_scanning()
    wait_for(fleet.settled, timeout=300, interval=0.2)
    out["amplification_with_failovers"] = round(fleet.events_sent / max(1, fleet.scans), 3)
    return out


def hubs_phase(work: Path, server: Postgres, hubs: int, args: argparse.Namespace) -> dict[str, Any]:
    broker = Mosquitto(work / "mosquitto")
    broker.workdir.mkdir(parents=True)
    broker.start()
    url = server.create_database()
    name = url.rsplit("/", 1)[1]
    dsn = f"host=127.0.0.1 port={server.port} user=postgres dbname={name}"
    cluster = Cluster(
        work, url, broker.port, size=hubs, extra={"api": {"metrics_token": METRICS_TOKEN}}
    )
    fleet = None
    try:
        cluster.start()
        fleet = SimulatedFleet(broker.port, args.stations, tag=f"h{hubs}")
        hub_cpu = {h.workdir.name: cpu_s(h.proc.pid) for h in cluster.hubs if h.proc}
        hub_scans = {h.workdir.name: ingested(h) for h in cluster.hubs}
        pg_cpu = cluster_cpu_s(server)
        locks = LockSampler(dsn, name)
        out = steady(fleet, args.seconds)
        out["lock_wait_share"] = locks.stop()
        pg_used = cluster_cpu_s(server) - pg_cpu
        per_hub = {}
        total_cpu = 0.0
        for hub in cluster.hubs:
            assert hub.proc is not None
            used = cpu_s(hub.proc.pid) - hub_cpu[hub.workdir.name]
            took = ingested(hub) - hub_scans[hub.workdir.name]
            total_cpu += used
            per_hub[hub.workdir.name] = {
                "scans": int(took),
                "cpu_s_per_1000_scans": round(used * 1000 / took, 3) if took else None,
            }
        out["hubs"] = per_hub
        out["all_hubs_cpu_s_per_1000_scans"] = round(total_cpu * 1000 / out["scans"], 3)
        out["postgres_cpu_s_per_1000_scans"] = round(pg_used * 1000 / out["scans"], 3)
        if hubs == 3:
            out["failover"] = failover(cluster, fleet, dsn)
        return out
    finally:
        if fleet is not None:
            fleet.close()
        cluster.stop()
        broker.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=45.0)
    parser.add_argument("--hubs", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="scantrail-cluster-bench-"))
    tmp.chmod(0o755)  # the PostgreSQL cluster below runs as postgres
    server = Postgres(tmp / "pg")
    server.start()
    result: dict[str, Any] = {"stations": args.stations, "seconds": args.seconds}
    try:
        result["raw"] = baseline(tmp / "raw", server, args)
        for hubs in args.hubs:
            result[f"hubs_{hubs}"] = phase = hubs_phase(tmp / f"hubs-{hubs}", server, hubs, args)
            raw_p99 = result["raw"]["ack_p99_ms"]
            if raw_p99 and phase["ack_p99_ms"] is not None:
                phase["ack_p99_vs_raw"] = round(phase["ack_p99_ms"] / raw_p99, 2)
        one = result.get("hubs_1", {}).get("all_hubs_cpu_s_per_1000_scans")
        for hubs in args.hubs:
            phase = result[f"hubs_{hubs}"]
            if one:
                phase["hub_cpu_per_scan_vs_one_hub"] = round(
                    phase["all_hubs_cpu_s_per_1000_scans"] / one, 2
                )
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
