"""Bad input never stops the line (DESIGN.md §1), at the hub's writer on both databases:
any bytes on a station's scans topic become a dead letter a person can read, and a good
scan in the same batch is stored and confirmed."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hub.ingest.triage import Message
from hub.store.tables import dead_letters, scan_log
from tests.harness.stations import HubUnderTest, ScriptedStation, message

TOPIC = "scantrail/v1/agents/pi-good/scans"
# `make chaos` sets this to 2,500: 10,000 generated payloads and scans over the two tests
# and both databases; `make test` tries 40 of each.
EXAMPLES = int(os.environ.get("SCANTRAIL_GENERATED_INPUTS", "40"))


def _count(hub: HubUnderTest, table: sa.Table) -> int:
    with hub.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


@settings(
    max_examples=EXAMPLES,
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


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(noise=st.text(min_size=1, max_size=120))
@example(noise="\x00")  # a serial line's noise: PostgreSQL refused it and the stream stopped
@example(noise="AST-\x00")
def test_a_scan_of_any_text_is_stored_applied_and_the_next_scan_follows_it(
    hub: HubUnderTest, noise: str
) -> None:
    """A scan whose raw text, operator and session are any text (NUL included) is stored
    and applied, no dead letter is written, and the station's next scan is confirmed."""
    letters, scans = _count(hub, dead_letters), _count(hub, scan_log)
    station = ScriptedStation(f"pi-noise-{scans}", "asset_move")
    (odd,) = station.scan("AST-1")
    odd = odd.model_copy(
        update={
            "raw": noise,
            "context": odd.context.model_copy(update={"operator": noise, "session_id": noise}),
        }
    )
    odd = type(odd).model_validate(odd.model_dump())  # as the hub reads it off the wire
    station.seq = odd.seq
    hub.deliver([odd])
    hub.deliver(station.scan("AST-2"))
    assert _count(hub, dead_letters) == letters
    assert _count(hub, scan_log) == scans + 2
    with hub.engine.connect() as conn:
        confirmed = conn.execute(
            sa.text("SELECT confirmed_seq, projected_seq FROM agent_streams WHERE agent_id = :a"),
            {"a": station.agent_id},
        ).one()
    assert tuple(confirmed) == (2, 2)
