"""Clock offsets per agent and boot, from arrival times (DESIGN.md §6)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from hub.ingest.clocks import WINDOW_S, Clocks
from hub.ingest.triage import Message
from hub.store.tables import alerts, scan_log
from protocol import codec
from protocol.messages import AgentHealth
from tests.harness import factories
from tests.harness.stations import HubUnderTest

T0 = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def test_the_smallest_recent_sample_is_the_offset_so_a_slow_delivery_is_not_skew() -> None:
    """A heartbeat that waited 20 s on its way does not move the estimate off the quick ones."""
    clocks = Clocks(skew_alert_s=5.0)
    clocks.sample(("pi", "b1"), T0, T0 + timedelta(seconds=0.02))
    slow = clocks.sample(("pi", "b1"), T0 + timedelta(seconds=10), T0 + timedelta(seconds=30))
    assert abs(slow.offset_s - 0.02) < 1e-9 and not slow.skewed


def test_each_boot_has_its_own_offset_and_old_samples_age_out() -> None:
    """A reboot starts a new estimate; a sample older than the window no longer counts."""
    clocks = Clocks(skew_alert_s=5.0)
    first = clocks.sample(("pi", "b1"), T0, T0 + timedelta(seconds=60))
    other = clocks.sample(("pi", "b2"), T0, T0)
    assert (first.skewed, first.correction_s(), other.correction_s()) == (True, 60.0, 0.0)
    later = T0 + timedelta(seconds=WINDOW_S + 1)
    assert clocks.sample(("pi", "b1"), later, later).offset_s == 0.0


def _health(agent: str, boot: str, sent_at: datetime, arrived_at: datetime) -> Message:
    health = AgentHealth(
        agent_id=agent,
        incarnation="inc1",
        sent_at=sent_at,
        monotonic_ns=1,
        boot_id=boot,
        backlog=0,
        clock_synced=False,
        last_confirmed_seq=0,
    )
    return Message(f"scantrail/v1/agents/{agent}/health", codec.encode(health), 0, 0, 0, arrived_at)


def test_queue_time_in_the_hub_never_counts_as_clock_skew(sqlite_url: str) -> None:
    """A heartbeat stamped on arrival but written a minute later (the hub was busy) gives
    no skew alert, and the agent's scans keep their own times."""
    hub = HubUnderTest(sqlite_url)
    now = datetime.now(UTC)
    hub.worker.process(
        [_health("pi-q", "boot-1", now - timedelta(minutes=1), now - timedelta(minutes=1))]
    )
    hub.deliver(factories.batch("pi-q", range(1, 3)).events)
    with hub.engine.connect() as conn:
        skews = conn.execute(sa.select(alerts).where(alerts.c.kind == "clock_skew")).all()
        times = conn.execute(sa.select(scan_log.c.scanned_at, scan_log.c.event_at)).all()
    assert skews == []
    assert all(scanned == event for scanned, event in times)
    hub.engine.dispose()


def test_a_skewed_boot_corrects_its_own_scans_only(sqlite_url: str) -> None:
    """An agent whose clock ran 2 h behind in one boot has that boot's scans corrected and
    raises one alert; scans of its next boot, with a good clock, keep their times."""
    hub = HubUnderTest(sqlite_url)
    now = datetime.now(UTC)
    behind = now - timedelta(hours=2)
    hub.worker.process(
        [_health("pi-s", "boot-1", behind, now), _health("pi-t", "boot-2", now, now)]
    )
    hub.worker.process([_health("pi-s", "boot-2", now, now)])
    old_boot = factories.batch("pi-s", range(1, 2), boot_id="boot-1").events
    new_boot = factories.batch("pi-s", range(2, 3), boot_id="boot-2").events
    hub.deliver(old_boot, new_boot)
    with hub.engine.connect() as conn:
        rows = conn.execute(
            sa.select(scan_log.c.seq, scan_log.c.scanned_at, scan_log.c.event_at).order_by(
                scan_log.c.seq
            )
        ).all()
        skews = conn.execute(
            sa.select(alerts.c.agent_id).where(alerts.c.kind == "clock_skew")
        ).all()
    shift = {
        seq: round((event - scanned).total_seconds() / 3600, 2) for seq, scanned, event in rows
    }
    assert shift == {1: 2.0, 2: 0.0}
    assert [a for (a,) in skews] == ["pi-s"]
    hub.engine.dispose()
