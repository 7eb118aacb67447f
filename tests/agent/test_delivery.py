"""The sender's delivery rules (agent/delivery.py) driven as a sans-IO core with a fake
clock: what it sends, when it waits, when it resends, and what an ack asks for."""

from __future__ import annotations

from datetime import UTC, datetime

from agent.delivery import ACK_WAIT_AFTER_CONNECT_S, Delivery, Send
from agent.settings import DeliverySettings
from protocol.messages import HubAck

INCARNATION = "inc-1"
WALL = datetime(2026, 12, 7, tzinfo=UTC)


def _core(last_seq: int = 1000, **settings: float) -> Delivery:
    """A core with ``last_seq`` rows kept, connected at t=0 and past its post-connect
    hold at t=10 (every test's clock starts there)."""
    chosen = {"drain_rate": 1e9, "resend_after_s": 10.0, "resend_max_s": 40.0, **settings}
    core = Delivery("pi-1", INCARNATION, DeliverySettings(**chosen), 0, last_seq, 0.0)
    core.connected(0.0)
    return core


def _ack(confirmed: int, **gap: int) -> HubAck:
    return HubAck(
        agent_id="pi-1", incarnation=INCARNATION, confirmed_seq=confirmed, hub_time=WALL, **gap
    )


def _drain(core: Delivery, now: float, acked: bool = True) -> list[Send]:
    """Everything the core sends at ``now``, each batch PUBACKed at once if ``acked``."""
    sent: list[Send] = []
    mid = 0
    while (send := core.next_send(now)) is not None:
        mid += 1
        core.sent(mid, send.first_seq + send.limit - 1, send.limit)
        if acked:
            core.published(mid, 0)
        sent.append(send)
    return sent


def test_nothing_goes_out_until_the_retained_ack_came_or_the_hold_after_connecting_passed() -> None:
    """Rule 4: after a connect the core waits ACK_WAIT_AFTER_CONNECT_S for the hub's
    retained ack, and an ack ends the wait at once."""
    core = _core()
    assert core.next_send(ACK_WAIT_AFTER_CONNECT_S / 2) is None
    assert core.next_send(ACK_WAIT_AFTER_CONNECT_S) == Send(1, 100)
    early = _core()
    early.ack(_ack(0), 0.1, WALL)
    assert early.next_send(0.1) == Send(1, 100)


def test_no_more_than_the_hub_window_goes_out_and_an_ack_opens_as_much_as_it_confirms() -> None:
    """Rule 1: at most hub_window events beyond the hub's watermark, whatever the broker
    PUBACKs; an ack confirming 250 lets 250 more go."""
    core = _core(hub_window=300)
    first = _drain(core, 10.0)
    assert sum(s.limit for s in first) == 300 and core.state.next_seq == 301
    assert core.ack(_ack(250), 10.5, WALL).confirm == 250
    more = _drain(core, 10.5)
    assert (more[0].first_seq, sum(s.limit for s in more)) == (301, 250)


def test_the_drain_rate_spreads_a_backlog_over_time() -> None:
    """Rule 1: with 100 events a second, a second's wait is what lets the next 100 go."""
    core = _core(drain_rate=100.0, batch_size=100, window=1)
    assert [s.limit for s in _drain(core, 10.0)] == [100]
    assert _drain(core, 10.5) == [Send(101, 50)]
    assert _drain(core, 10.5) == []
    assert _drain(core, 11.5) == [Send(151, 100)]


def test_without_an_ack_everything_after_the_watermark_is_resent_less_often_each_time() -> None:
    """Rule 3: unconfirmed for resend_after_s, the core goes back to the watermark; the
    next time after twice as long, to resend_max_s; an ack that confirms resets it."""
    core = _core(last_seq=200)
    core.ack(_ack(0), 10.0, WALL)
    _drain(core, 10.0)
    assert core.state.next_seq == 201
    assert not core.resend_due(19.9)
    assert core.resend_due(20.0) and core.state.next_seq == 1
    _drain(core, 20.0)
    assert not core.resend_due(39.9) and core.resend_due(40.0)  # 20 s later
    _drain(core, 40.0)
    assert not core.resend_due(79.9) and core.resend_due(80.0)  # 40 s: the cap
    _drain(core, 80.0)
    assert not core.resend_due(119.9) and core.resend_due(120.0)  # still 40 s
    _drain(core, 120.0)
    core.ack(_ack(100), 121.0, WALL)
    assert not core.resend_due(130.9) and core.resend_due(131.0)  # reset to 10 s
    assert core.state.next_seq == 101 and core.state.resends == 5


def test_a_gap_the_hub_names_is_resent_alone_then_sending_goes_on_where_it_was() -> None:
    """Rule 5: resend_from 101, resend_to 150 sends 101-150 and then resumes at 301."""
    core = _core(hub_window=2000)
    core.ack(_ack(0), 10.0, WALL)
    sent = _drain_until(core, 10.0, 300)
    assert sent == 300
    core.ack(_ack(100, resend_from=101, resend_to=150), 10.2, WALL)
    assert core.next_send(10.2) == Send(101, 50)
    core.sent(99, 150, 50)
    assert core.next_send(10.2) == Send(301, 100)


def _drain_until(core: Delivery, now: float, upto: int) -> int:
    """Send (PUBACKed) until ``upto`` went out; how many did."""
    total = 0
    mid = 1000
    while total < upto and (send := core.next_send(now)) is not None:
        limit = min(send.limit, upto - total)
        mid += 1
        core.sent(mid, send.first_seq + limit - 1, limit)
        core.published(mid, 0)
        total += limit
    return total


def test_an_ack_beyond_what_this_file_kept_asks_to_renumber_and_confirms_nothing() -> None:
    """Rule 6: the hub holds seqs this outbox never kept (it was restored from an old
    copy): the core asks the shell to renumber, then starts again from seq 1."""
    core = _core(last_seq=50)
    taken = core.ack(_ack(80), 10.0, WALL)
    assert taken.renumber and taken.confirm is None and core.state.confirmed_seq == 0
    core.renumbered("inc-2", 50)
    assert core.state.next_seq == 1 and "outbox_renumbered" in core.state.alarms
    assert core.ack(_ack(80), 10.1, WALL).renumber is False  # the old numbering's ack


def test_an_ack_below_the_one_held_confirms_nothing_and_asks_for_nothing() -> None:
    """Several hubs ack one agent, and a slower hub's ack (or an older retained one) may
    come after a newer: the agent keeps the higher watermark, and the older ack's gap,
    already filled, rewinds nothing."""
    core = _core(hub_window=300)
    _drain(core, 10.0)
    assert core.ack(_ack(250), 10.5, WALL).confirm == 250
    older = core.ack(_ack(120, resend_from=121, resend_to=130), 10.6, WALL)
    assert older.confirm is None and not older.renumber
    assert core.state.confirmed_seq == 250
    send = core.next_send(10.6)
    assert send is not None and send.first_seq > 250, "sending goes on past 250, no rewind"
