"""The API's changes on SQLite go through the one writer (hub/ingest/web_writes.py): run in
the ingest thread between batches, their answer or their error handed back to the route,
and a change the writer never took is never made later."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.domain.statuses import AlertKind, Severity
from hub.errors import WriterBusy
from hub.ingest.web_writes import ThroughWriter
from hub.store.alerts import Alerts
from hub.store.tables import alerts
from tests.harness import factories
from tests.harness.stations import HubUnderTest, message
from tests.harness.waiting import wait_for


@pytest.fixture
def running(hub: HubUnderTest) -> Iterator[HubUnderTest]:
    hub.worker.start()
    yield hub
    hub.worker.stop()


def _count_alerts(conn: Connection) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(alerts)).scalar_one())


def test_a_change_runs_in_the_writer_thread_and_its_answer_comes_back(
    running: HubUnderTest,
) -> None:
    """The route gets what the work returned; the work ran in the ingest thread."""
    write = ThroughWriter(running.messages)
    ran_in: list[str] = []

    def work(conn: Connection) -> int:
        ran_in.append(threading.current_thread().name)
        return _count_alerts(conn) + 41

    assert write(work) == 41
    assert ran_in == ["writer"]


def test_a_change_that_fails_raises_in_the_route_and_the_writer_goes_on(
    running: HubUnderTest,
) -> None:
    """The error reaches the caller, nothing of the failed change is kept, and the scans
    that come next are stored and acked."""
    write = ThroughWriter(running.messages)

    def half_then_fail(conn: Connection) -> None:
        raised = Alerts(datetime.now(UTC))
        raised.add(Severity.LOW, AlertKind.GAP_OPEN, None, "written, then the change failed")
        raised.write(conn)
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        write(half_then_fail)
    with running.engine.connect() as conn:
        assert _count_alerts(conn) == 0
    running.messages.put(message(list(factories.batch("pi-next", range(1, 3)).events)))

    def acked() -> None:
        assert [a.agent_id for a in running.broker.acks()] == ["pi-next"]

    wait_for(acked, timeout=30)


def test_a_change_the_writer_never_took_is_refused_and_never_made_later(
    hub: HubUnderTest,
) -> None:
    """With the writer stopped the route gets WriterBusy; started later, the writer skips
    the change the route gave up on."""
    write = ThroughWriter(hub.messages, wait_s=0.2)
    made: list[str] = []
    with pytest.raises(WriterBusy, match="nothing was changed"):
        write(lambda conn: made.append("late"))
    hub.worker.start()
    try:
        assert ThroughWriter(hub.messages)(lambda conn: "next") == "next"
    finally:
        hub.worker.stop()
    assert made == []
