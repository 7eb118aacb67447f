"""The records one fixed shift of scans makes, dumped for a before/after comparison.

Ten stations (each mode twice) scan 300 times each, delivered in interleaved batches to
the hub's real writer (tests/harness/stations.py ``HubUnderTest``) on the database given.
Every table but the scan log and fleet state is dumped without surrogate ids, times of
writing and hashes (those include the time an entry was written), in a fixed order.
Run it against two versions (``PYTHONPATH`` at each tree) and compare the files:

    PYTHONPATH=/path/to/old python bench/same_records.py sqlite:////tmp/a.db /tmp/a.json
    PYTHONPATH=. python bench/same_records.py sqlite:////tmp/b.db /tmp/b.json
    cmp /tmp/a.json /tmp/b.json
"""

from __future__ import annotations

import json
import random
import sys
import uuid
from datetime import datetime
from typing import Any

# Event ids from a seeded generator, so both versions see the very same scans.
_ids = random.Random(7)
uuid.uuid4 = lambda: uuid.UUID(int=_ids.getrandbits(128))

import sqlalchemy as sa  # noqa: E402

# This script's own folder (sys.path[0]), not the tree under test: the traffic is the same.
from traffic import MODES, station_texts  # noqa: E402

from tests.harness.stations import HubUnderTest, ScriptedStation  # noqa: E402

SKIP_TABLES = {
    "scan_log",
    "agent_streams",
    "projection_queue",
    "agents",
    "agent_clocks",
    "agent_events",
    "alembic_version",
}
SKIP_COLUMNS = {"id", "received_at", "created_at", "hash", "prev_hash", "at", "updated_at"}


def main() -> None:
    url, out = sys.argv[1], sys.argv[2]
    hub = HubUnderTest(url)
    rng = random.Random(3)
    stations = [ScriptedStation(f"pi-{n}", MODES[n % len(MODES)]) for n in range(10)]
    scripts = [station_texts(rng, MODES[n % len(MODES)], 300, str(n % 4)) for n in range(10)]
    for at in range(0, 300, 15):
        hub.deliver(
            *(
                [event for text in script[at : at + 15] for event in station.scan(text)]
                for station, script in zip(stations, scripts, strict=True)
            )
        )
    dump: dict[str, Any] = {}
    with hub.engine.connect() as conn:
        meta = sa.MetaData()
        meta.reflect(conn)
        for name, table in sorted(meta.tables.items()):
            if name in SKIP_TABLES:
                continue
            columns = [c for c in table.columns if c.name not in SKIP_COLUMNS]
            ordered = name in ("audit_log", "alerts")  # history: in the order written
            query = sa.select(*columns).order_by(table.c.id if ordered else columns[0])
            rows = [
                [str(v) if isinstance(v, datetime) else v for v in r] for r in conn.execute(query)
            ]
            if not ordered:
                rows.sort(key=lambda r: json.dumps(r, default=str))
            dump[name] = {"columns": [c.name for c in columns], "rows": rows}
    hub.engine.dispose()
    with open(out, "w") as f:
        json.dump(dump, f, default=str, indent=0)
    print(json.dumps({name: len(table["rows"]) for name, table in dump.items()}))


if __name__ == "__main__":
    main()
