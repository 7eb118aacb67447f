"""Run the fault matrix and print its table; ``--write`` puts the table in
docs/reliability.md. Each row is one fault on one database: a fresh broker, hub and
station (in a network namespace for the network faults), ``rounds`` rounds of scan →
fault → heal → wait until the station's backlog is confirmed, then the oracle.

    python -m chaos.matrix                        # every row, full rounds (make chaos)
    python -m chaos.matrix --only "link down" --database sqlite --rounds 2 --seed 7
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from chaos.disk import SmallDisk
from chaos.faults import FAULTS, Fault
from chaos.network import Link
from chaos.oracle import Delivery, delivery, records_differ, station_kept, timed_wrong
from chaos.site import Site
from tests.harness.postgres import Postgres
from tests.harness.waiting import wait_for

RECOVER_WITHIN_S = 300.0  # generous: a busy machine, a drained backlog of 1,800 scans
REPORT = Path(__file__).resolve().parents[1] / "docs" / "reliability.md"
BEGIN, END = "<!-- chaos:begin -->", "<!-- chaos:end -->"


@dataclass
class Row:
    fault: Fault
    database: str
    rounds: int
    seed: int
    delivered: Delivery | None = None
    differ: dict[str, int] = field(default_factory=dict)
    recover_s: list[float] = field(default_factory=list)
    failure: str | None = None  # the fault could not be brought about, or never healed

    @property
    def passed(self) -> bool:
        return (
            self.failure is None
            and self.delivered is not None
            and self.delivered.whole
            and not self.differ
        )


def _recovered(site: Site) -> None:
    status = site.agent.status()
    assert status["backlog"] == 0, status


def _projected(site: Site) -> None:
    stream = site.hub.agent_row(site.agent.agent_id)
    assert stream["projected_seq"] == stream["confirmed_seq"], stream


@contextmanager
def _postgres(work: Path) -> Iterator[Postgres]:
    server = Postgres(work / "postgres")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def run_row(
    fault: Fault, database: str, rounds: int, seed: int, work: Path, postgres: Postgres | None
) -> Row:
    row = Row(fault, database, rounds, seed)
    rng = random.Random(seed)
    disk = None
    if fault.disk:
        disk = SmallDisk(work / "agent" / "data" if fault.disk == "agent" else work / "hubdisk")
        disk.mount()
    if database == "postgresql":
        assert postgres is not None, "a PostgreSQL row needs the cluster"
        url = postgres.create_database()
    else:
        folder = disk.path if disk and fault.disk == "hub" else work
        url = f"sqlite:///{folder / 'hub.db'}"
    link = Link() if fault.network else None
    if link:
        link.make()
    pg = postgres if database == "postgresql" else None
    site = Site(work, url, pg, link, disk, scanner=fault.scanner, tls=fault.tls)
    try:
        site.start()
        for _ in range(rounds):
            site.scan()
            fault.inject(site, rng)
            site.scan()  # a fault that stopped the station's operator lets them go on
            time.sleep(rng.uniform(0.1, 0.5))
            site.pause()
            healed = time.monotonic()
            wait_for(lambda: _recovered(site), timeout=RECOVER_WITHIN_S, interval=0.2)
            row.recover_s.append(time.monotonic() - healed)
        wait_for(lambda: _projected(site), timeout=RECOVER_WITHIN_S, interval=0.5)
        kept = {**site.kept_before, **station_kept(site.outbox)}
        at_hub = site.hub.all_scans(site.agent.agent_id)
        lost = frozenset(site.storage_lost)
        row.delivered = delivery(kept, at_hub, lost, site.storage_lost_named)
        times_wrong = timed_wrong(at_hub, fault.clock) if fault.clock else 0
        site.hub.stop()
        row.differ = records_differ(url)
        if times_wrong:
            row.differ["scan times"] = times_wrong
    except (AssertionError, RuntimeError, OSError) as exc:
        row.failure = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    finally:
        site.stop()
        if link:
            link.remove()
        if disk:
            disk.unmount()
    return row


def table(rows: list[Row]) -> str:
    lines = [
        "| fault | class | database | rounds | seed | scans confirmed by the station | lost "
        "| gone with the station's storage | applied twice | not kept, or altered "
        "| records equal to a fault-free run | time to recover (median, worst) |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for row in rows:
        d = row.delivered
        times = sorted(row.recover_s)
        recover = f"{times[len(times) // 2]:.1f} s, {times[-1]:.1f} s" if times else "-"
        equal = (
            "yes"
            if not row.differ
            else "no: " + ", ".join(f"{t} {n}" for t, n in row.differ.items())
        )
        if row.failure:
            equal = f"**not run to the end: {row.failure}**"
        lines.append(
            f"| {row.fault.name} | {row.fault.kind} | {row.database} | {row.rounds} | {row.seed} "
            f"| {d.confirmed if d else '-'} | {d.lost if d else '-'} | {d.gone if d else '-'} "
            f"| {d.doubled if d else '-'} "
            f"| {d.unexpected + d.altered if d else '-'} | {equal} | {recover} |"
        )
    return "\n".join(lines)


def write(report: str, path: Path = REPORT) -> None:
    text = path.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    path.write_text(text[:start] + "\n" + report + "\n" + text[end:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="a fault's name, or the start of it")
    parser.add_argument("--database", choices=("sqlite", "postgresql"))
    parser.add_argument("--rounds", type=int, help="instead of each fault's own")
    parser.add_argument("--seed", type=int, default=20261206)
    parser.add_argument("--write", action="store_true", help=f"put the table in {REPORT.name}")
    parser.add_argument("--keep", action="store_true", help="keep the processes' folders")
    args = parser.parse_args(argv)
    faults = [f for f in FAULTS if not args.only or f.name.startswith(args.only)]
    if not faults:
        parser.error(f"no fault named {args.only!r}")
    rows: list[Row] = []
    work = Path(tempfile.mkdtemp(prefix="scantrail-chaos-"))
    work.chmod(0o755)  # PostgreSQL runs as postgres under it
    started = time.monotonic()
    try:
        with _postgres(work) as postgres:
            for n, fault in enumerate(faults):
                for database in fault.databases:
                    if args.database and database != args.database:
                        continue
                    rounds = args.rounds or fault.rounds
                    seed = args.seed + n
                    print(f"… {fault.name} on {database}: {rounds} rounds, seed {seed}", flush=True)
                    folder = work / f"row{len(rows)}"
                    folder.mkdir()
                    folder.chmod(0o755)
                    began = time.monotonic()
                    rows.append(run_row(fault, database, rounds, seed, folder, postgres))
                    print(table(rows[-1:]).splitlines()[-1], flush=True)
                    print(f"  ({time.monotonic() - began:.0f} s)", flush=True)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    report = table(rows)
    took = time.monotonic() - started
    print(f"\n{report}\n\n{len(rows)} rows in {took / 60:.1f} min", flush=True)
    if args.write:
        write(f"{report}\n\n{len(rows)} rows in {took / 60:.1f} min on this machine.")
    return 0 if all(row.passed for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
