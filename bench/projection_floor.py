"""A diagnosis for bench/e2e_bench.py's projection target, not a result: how fast SQLite can
take just the rows a projection wrote, with nothing computed.

Give it a hub database the e2e bench left (``--keep``). It copies that database's schema
(tables and indexes) into a fresh file, then inserts every records, audit and alert row
the hub wrote, in 1,000-row transactions (WAL, synchronous=FULL, executemany), and times
it. Scans projected per second at that pace are a ceiling for any projector that writes
these records; the same run times raw inserts of the scan log's rows, as the e2e bench's
baseline does. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.sqlite_copy import fresh, timed_copy

WRITTEN = [  # what the projection writes; the scan log and fleet tables are ingest's
    "sessions",
    "session_items",
    "cycles",
    "items",
    "tray_checklists",
    "usage_logs",
    "assets",
    "assignments",
    "equipment_events",
    "equipment_logs",
    "inspections",
    "alerts",
    "audit_log",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("hub_db", type=Path)
    args = parser.parse_args()
    source = sqlite3.connect(args.hub_db)
    scans = source.execute("SELECT count(*) FROM scan_log").fetchone()[0]
    tables = [
        t
        for (t,) in source.execute("SELECT name FROM sqlite_master WHERE type='table'")
        if t in WRITTEN
    ]
    with tempfile.TemporaryDirectory() as tmp:
        records = fresh(source, Path(tmp) / "records.db", tables)
        written = {t: timed_copy(source, records, t) for t in tables}
        log = fresh(source, Path(tmp) / "log.db", ["scan_log"])
        log_rows, log_s = timed_copy(source, log, "scan_log")
    rows = sum(n for n, _ in written.values())
    seconds = sum(s for _, s in written.values())
    print(
        json.dumps(
            {
                "bench": "projection_floor",
                "scans": scans,
                "rows_written": rows,
                "rows_per_scan": rows / scans,
                "rows_by_table": {t: n for t, (n, _) in written.items()},
                "write_only_scans_per_s": scans / seconds,
                "scan_log_inserts_per_s": log_rows / log_s,
                "write_only_vs_scan_log_inserts": (scans / seconds) / (log_rows / log_s),
            }
        )
    )


if __name__ == "__main__":
    main()
