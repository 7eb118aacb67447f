"""Bad input never stops the line (DESIGN.md §1), at the hub's writer on both databases:
any bytes on a station's scans topic become a dead letter a person can read, and a good
scan in the same batch is stored and confirmed."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hub.ingest.triage import Message
from hub.store.tables import dead_letters, scan_log
from tests.harness.stations import HubUnderTest, ScriptedStation, message

TOPIC = "scantrail/v1/agents/pi-good/scans"


def _count(hub: HubUnderTest, table: sa.Table) -> int:
    with hub.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(payload=st.binary(max_size=600) | st.text(max_size=300).map(str.encode))
@example(payload=b"\x00")  # PostgreSQL refuses NUL in text: it stopped the writer
@example(payload=b'{"agent_id": "pi-good\\u0000", "events": []}')
def test_any_payload_becomes_a_dead_letter_and_the_good_scan_beside_it_is_stored(
    hub: HubUnderTest, payload: bytes
) -> None:
    """Garbage and a good batch in one ingest batch: one more dead letter holding the
    garbage as text, and the good scan stored."""
    letters, scans = _count(hub, dead_letters), _count(hub, scan_log)
    station = ScriptedStation(f"pi-good-{scans}", "asset_move")  # a station per example
    garbage = Message(TOPIC, payload, 0, 1, 0, datetime.now(UTC))
    hub.worker.process([garbage, message(station.scan(f"AST-{scans}"))])
    assert _count(hub, dead_letters) == letters + 1
    assert _count(hub, scan_log) == scans + 1
