"""Clock offsets per agent and boot, from arrival times (DESIGN.md §6)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from hub.ingest.clocks import WINDOW_S, Clocks, event_time
from hub.ingest.triage import Message
from hub.store.tables import alerts, scan_log
from protocol import codec
from protocol.messages import AgentHealth
from tests.harness import factories
from tests.harness.stations import HubUnderTest

T0 = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def _mono(at: datetime) -> int:
    """An agent's monotonic clock: nanoseconds since T0, its boot."""
    return int((at - T0).total_seconds() * 1e9)


def test_the_smallest_recent_sample_is_the_offset_so_a_slow_delivery_is_not_skew() -> None:
    """A heartbeat that waited 20 s on its way does not move the estimate off the quick ones."""
    clocks = Clocks(skew_alert_s=5.0)
    clocks.sample(("pi", "b1"), T0, T0 + timedelta(seconds=0.02), 0)
    sent = T0 + timedelta(seconds=10)
    slow = clocks.sample(("pi", "b1"), sent, T0 + timedelta(seconds=30), _mono(sent))
    assert abs(slow.offset_s - 0.02) < 1e-9 and not slow.skewed


def test_each_boot_has_its_own_offset_and_old_samples_age_out() -> None:
    """A reboot starts a new estimate; a sample older than the window no longer counts."""
    clocks = Clocks(skew_alert_s=5.0)
    first = clocks.sample(("pi", "b1"), T0, T0 + timedelta(seconds=60), 0)
    other = clocks.sample(("pi", "b2"), T0, T0, 0)
    assert (first.skewed, other.skewed) == (True, False)
    later = T0 + timedelta(seconds=WINDOW_S + 1)
    assert clocks.sample(("pi", "b1"), later, later, _mono(later) + 60 * 10**9).offset_s == 0.0


def test_a_wall_clock_step_starts_the_offset_again_and_scans_keep_their_true_times() -> None:
    """A Pi booted a day ahead, then set right by NTP: the offset says a day until the
    step and nothing right after it, and every scan of the boot, before the step or after,
    is placed at the hub's time it was taken (before the fix: a day in the past for the
    five minutes after the step)."""
    clocks = Clocks(skew_alert_s=5.0)
    day = timedelta(days=1)
    key = ("pi", "b1")
    for n in range(3):
        true = T0 + timedelta(seconds=10 * n)
        ahead = clocks.sample(key, true + day, true + timedelta(seconds=0.05), _mono(true))
    assert ahead.skewed and round(ahead.offset_s) == -86_400
    stepped_at = T0 + timedelta(seconds=40)
    fixed = clocks.sample(key, stepped_at, stepped_at + timedelta(seconds=0.05), _mono(stepped_at))
    assert not fixed.skewed and abs(fixed.offset_s) < 1
    before, after = T0 + timedelta(seconds=25), T0 + timedelta(seconds=45)
    assert event_time(fixed, before + day, _mono(before), False, 5.0) - before < timedelta(
        seconds=1
    )
    assert event_time(fixed, after, _mono(after), False, 5.0) == after  # its own time, exactly


def test_a_scan_taken_with_a_synced_clock_keeps_its_own_time_whatever_the_hubs_says() -> None:
    """NTP synced the station, so its time stands even where the hub's clock puts the scan
    an hour elsewhere: it may be the hub's clock that is wrong."""
    clocks = Clocks(skew_alert_s=5.0)
    hour = timedelta(hours=1)
    estimate = clocks.sample(("pi", "b1"), T0, T0 + hour, 0)
    taken = T0 + timedelta(seconds=10)
    assert event_time(estimate, taken, _mono(taken), True, 5.0) == taken
    assert event_time(estimate, taken, _mono(taken), False, 5.0) == taken + hour


def test_a_step_of_the_hubs_own_clock_drops_the_samples_measured_before_it() -> None:
    """The hub's clock runs two minutes behind, then NTP steps it forward: from the next
    heartbeat an unsynced station is corrected by the hub's clock as it is now (before
    the fix: by the samples from before, the smallest of the last five minutes, for five
    minutes, so its scans went two minutes into the past). A step longer than the window
    ages its samples out by itself."""
    clocks = Clocks(skew_alert_s=5.0)
    behind = timedelta(minutes=2)
    key = ("pi", "b1")
    for n in range(3):
        true = T0 + timedelta(seconds=10 * n)
        wrong = clocks.sample(key, true, true - behind, _mono(true), _mono(true))
    assert round(wrong.offset_s) == -120
    true = T0 + timedelta(seconds=30)
    right = clocks.sample(key, true, true, _mono(true), _mono(true))
    assert abs(right.offset_s) < 1 and not right.skewed
    later = T0 + timedelta(seconds=35)
    assert event_time(right, later + behind, _mono(later), False, 5.0) == later


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
    hub.deliver(factories.batch("pi-q", range(1, 3), scanned_at=now - timedelta(minutes=1)).events)
    with hub.engine.connect() as conn:
        skews = conn.execute(sa.select(alerts).where(alerts.c.kind == "clock_skew")).all()
        times = conn.execute(sa.select(scan_log.c.scanned_at, scan_log.c.event_at)).all()
    assert skews == []
    assert all(scanned == event for scanned, event in times)
    hub.engine.dispose()


def test_a_skewed_boot_corrects_its_own_scans_only(sqlite_url: str) -> None:
    """An agent whose clock ran 2 h behind, unsynced, in one boot has that boot's scans
    corrected and raises one alert; scans of its next boot, with a good clock, keep their
    times."""
    hub = HubUnderTest(sqlite_url)
    now = datetime.now(UTC)
    behind = now - timedelta(hours=2)
    hub.worker.process(
        [_health("pi-s", "boot-1", behind, now), _health("pi-t", "boot-2", now, now)]
    )
    hub.worker.process([_health("pi-s", "boot-2", now, now)])
    # Each scan's wall and monotonic times agree, as a real agent's do (the heartbeats'
    # monotonic time is 1 ns, the scans' about a microsecond later).
    old_boot = factories.batch(
        "pi-s", range(1, 2), boot_id="boot-1", scanned_at=behind, clock_synced=False
    ).events
    new_boot = factories.batch("pi-s", range(2, 3), boot_id="boot-2", scanned_at=now).events
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
