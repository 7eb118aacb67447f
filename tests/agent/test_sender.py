"""The sender's resend rules, against a real outbox file and a fake broker link."""

from __future__ import annotations

import json
import queue
import sqlite3
import ssl
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agent.mqtt import (
    CERTIFICATE_ALARMS,
    CERTIFICATE_UNTRUSTED,
    AckReceived,
    Connected,
    Disconnected,
    Published,
    certificate_problem,
)
from agent.outbox import Entry, OutboxReader, OutboxStore
from agent.sender import Sender
from agent.settings import DeliverySettings
from protocol import codec
from protocol.messages import AgentHealth, AgentStatus, HubAck
from tests.harness.waiting import wait_for

ROWS = 1000


class FakeBroker:
    """Our Transport port: PUBACKs every publish at once, with ``reason`` (0: taken; 0x87:
    not authorized), and records the seqs sent."""

    def __init__(self, events: queue.Queue[Any], reason: int = 0) -> None:
        self._events = events
        self._mid = 0
        self.reason = reason
        self.seqs: list[int] = []

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> int:
        self._mid += 1
        if topic.endswith("/scans"):
            self.seqs.extend(e["seq"] for e in json.loads(payload)["events"])
        self._events.put(Published(self._mid, self.reason))
        return self._mid


def start_sender(
    store: OutboxStore,
    settings: DeliverySettings,
    events: queue.Queue[Any],
    broker: FakeBroker,
    confirm: Callable[[int], None] = lambda seq: None,
) -> Sender:
    """A sender on ``store`` as the agent wires it (renumbering through the store), started
    and told it is connected; the caller stops it."""

    def renumber() -> tuple[str, int]:
        store.renumber()
        return store.incarnation, store.last_seq

    status = AgentStatus(agent_id="pi-1", state="online", version="test")
    sender = Sender(
        "pi-1",
        store.incarnation,
        "scantrail",
        settings,
        lambda: OutboxReader(store.path),
        confirm,
        renumber,
        lambda: status,
        lambda state: AgentHealth(
            agent_id="pi-1",
            incarnation=store.incarnation,
            sent_at=datetime.now(UTC),
            monotonic_ns=0,
            backlog=0,
            clock_synced=True,
            last_confirmed_seq=0,
        ),
        events,
    )
    sender.start(broker, 0, store.last_seq)
    events.put(Connected())
    return sender


def _start(
    tmp_path: Path, settings: DeliverySettings, refuse: int = 0
) -> Iterator[tuple[Sender, FakeBroker, queue.Queue[Any], str]]:
    store = OutboxStore(tmp_path / "outbox.db", 10**9)
    store.open()
    for i in range(ROWS):
        store.append(f"e{i}", lambda seq: json.dumps({"seq": seq}))
    events: queue.Queue[Any] = queue.Queue()
    broker = FakeBroker(events, refuse)
    sender = start_sender(store, settings, events, broker)
    try:
        yield sender, broker, events, store.incarnation
    finally:
        sender.stop()
        store.close()


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[Sender, FakeBroker, queue.Queue[Any], str]]:
    settings = DeliverySettings(drain_rate=1e9, resend_after_s=30, health_interval_s=3600)
    yield from _start(tmp_path, settings)


def _ack(incarnation: str, confirmed: int, **gap: int) -> AckReceived:
    ack = HubAck(
        agent_id="pi-1",
        incarnation=incarnation,
        confirmed_seq=confirmed,
        hub_time=datetime.now(UTC),
        **gap,
    )
    return AckReceived(codec.encode(ack))


def _sent_all_once(broker: FakeBroker) -> None:
    assert broker.seqs == list(range(1, ROWS + 1))


def _settled(sender: Sender, broker: FakeBroker, expected: int, confirmed: int = 0) -> None:
    """Wait until the sender has taken the acks in (``confirmed``), sent at least
    ``expected`` events and has nothing left to send until a timer fires (resend timers
    are 30 s away); then exactly ``expected`` must have gone out. A sender that sent more
    is caught either way: still sending keeps waiting, done sending fails the count."""

    def quiet() -> None:
        state = sender.state
        assert len(broker.seqs) >= expected
        assert state.confirmed_seq == confirmed and state.next_seq == ROWS + 1

    wait_for(quiet, timeout=10)
    assert len(broker.seqs) == expected


def test_a_reported_gap_is_resent_alone_and_sending_resumes_where_it_was(
    running: tuple[Sender, FakeBroker, queue.Queue[Any], str],
) -> None:
    """An ack naming the gap 1..300 makes the sender re-send exactly 1..300, nothing more."""
    sender, broker, events, incarnation = running
    events.put(_ack(incarnation, 0))
    wait_for(lambda: _sent_all_once(broker), timeout=10)
    events.put(_ack(incarnation, 0, resend_from=1, resend_to=300))
    _settled(sender, broker, ROWS + 300)
    assert broker.seqs[ROWS:] == list(range(1, 301))


def test_an_ack_without_resend_to_goes_back_n(
    running: tuple[Sender, FakeBroker, queue.Queue[Any], str],
) -> None:
    """An older hub that names only resend_from gets everything from there again."""
    sender, broker, events, incarnation = running
    events.put(_ack(incarnation, 0))
    wait_for(lambda: _sent_all_once(broker), timeout=10)
    events.put(_ack(incarnation, 400, resend_from=401))
    _settled(sender, broker, 2 * ROWS - 400, confirmed=400)
    assert broker.seqs[ROWS:] == list(range(401, ROWS + 1))


def test_the_same_gap_reported_again_is_not_resent_twice_within_the_resend_delay(
    running: tuple[Sender, FakeBroker, queue.Queue[Any], str],
) -> None:
    """Acks that still name a gap being repaired (the hub is behind) add no traffic."""
    sender, broker, events, incarnation = running
    events.put(_ack(incarnation, 0))
    wait_for(lambda: _sent_all_once(broker), timeout=10)
    events.put(_ack(incarnation, 0, resend_from=1, resend_to=300))
    _settled(sender, broker, ROWS + 300)
    events.put(_ack(incarnation, 100, resend_from=101, resend_to=300))
    events.put(_ack(incarnation, 200, resend_from=201, resend_to=300))
    _settled(sender, broker, ROWS + 300, confirmed=200)


def test_a_second_gap_is_repaired_at_once(
    running: tuple[Sender, FakeBroker, queue.Queue[Any], str],
) -> None:
    """Once the first gap is filled the hub names the next one and only it is re-sent."""
    sender, broker, events, incarnation = running
    events.put(_ack(incarnation, 0))
    wait_for(lambda: _sent_all_once(broker), timeout=10)
    events.put(_ack(incarnation, 0, resend_from=1, resend_to=100))
    _settled(sender, broker, ROWS + 100)
    events.put(_ack(incarnation, 500, resend_from=501, resend_to=550))
    _settled(sender, broker, ROWS + 150, confirmed=500)
    assert broker.seqs[ROWS + 100 :] == list(range(501, 551))


def test_no_more_than_the_hub_window_goes_out_beyond_the_hubs_watermark(tmp_path: Path) -> None:
    """With a hub window of 300, the sender stops at 300 unconfirmed events whatever the
    broker PUBACKs, and each ack lets as many more go as it confirmed."""
    settings = DeliverySettings(
        drain_rate=1e9, resend_after_s=30, health_interval_s=3600, hub_window=300
    )
    started = _start(tmp_path, settings)
    sender, broker, events, incarnation = next(started)
    try:

        def stopped_at(sent: int, confirmed: int) -> None:
            assert sender.state.confirmed_seq == confirmed
            assert len(broker.seqs) >= sent and sender.state.next_seq == sent + 1

        events.put(_ack(incarnation, 0))
        wait_for(lambda: stopped_at(300, 0), timeout=10)
        assert broker.seqs == list(range(1, 301))
        events.put(_ack(incarnation, 250))
        wait_for(lambda: stopped_at(550, 250), timeout=10)
        assert broker.seqs == list(range(1, 551))
    finally:
        next(started, None)


def test_a_refused_publish_or_login_is_an_alarm_until_the_broker_takes_them_again(
    tmp_path: Path,
) -> None:
    """PUBACK 0x87 raises broker_refused and confirms nothing; once the broker takes the
    resent scans (0x10, no matching subscribers, is taken too), it clears. A refused login
    raises broker_login_refused; a connection clears it."""
    settings = DeliverySettings(
        drain_rate=1e9, resend_after_s=0.2, resend_max_s=0.5, health_interval_s=3600
    )
    started = _start(tmp_path, settings, refuse=0x87)
    sender, broker, events, _ = next(started)
    try:
        wait_for(lambda: _has(sender, "broker_refused"), timeout=10)
        assert sender.state.broker_acked_seq == 0
        broker.reason = 0x10
        wait_for(lambda: _has(sender, "broker_refused", False), timeout=30)
        assert sender.state.broker_acked_seq > 0
        events.put(Disconnected("connect refused: Not authorized", refused=True))
        wait_for(lambda: _has(sender, "broker_login_refused"), timeout=10)
        events.put(Connected())
        wait_for(lambda: _has(sender, "broker_login_refused", False), timeout=10)
    finally:
        started.close()


def test_a_refused_broker_certificate_is_an_alarm_naming_why_until_a_connection(
    tmp_path: Path,
) -> None:
    """A TLS handshake that refuses the broker's certificate as not valid yet raises that
    alarm alone; one refused for another reason replaces it; a connection clears both."""
    settings = DeliverySettings(drain_rate=1e9, health_interval_s=3600)
    started = _start(tmp_path, settings)
    sender, _, events, _ = next(started)
    try:
        for code, alarm in ((9, "broker_certificate_not_yet_valid"), (19, CERTIFICATE_UNTRUSTED)):
            refused = ssl.SSLCertVerificationError(1, "certificate verify failed")
            refused.verify_code = code
            problem = certificate_problem(refused)
            events.put(Disconnected(f"connect failed: {refused}", certificate=problem))
            wait_for(lambda alarm=alarm: _has(sender, alarm), timeout=10)
            assert sender.state.alarms & CERTIFICATE_ALARMS == {alarm}
        assert certificate_problem(ConnectionRefusedError(111, "refused")) is None
        events.put(Connected())
        wait_for(lambda: _has(sender, CERTIFICATE_UNTRUSTED, False), timeout=10)
    finally:
        started.close()


def _has(sender: Sender, alarm: str, raised: bool = True) -> None:
    assert (alarm in sender.state.alarms) is raised, sender.state.alarms


def test_a_sterilizers_lines_go_on_the_readings_topic_in_one_numbering_with_the_scans(
    tmp_path: Path,
) -> None:
    """Scans and sterilizer lines kept in turn: each batch carries one kind, lines on
    ``…/readings`` and scans on ``…/scans``, and together they send every seq once, in
    order."""
    store = OutboxStore(tmp_path / "outbox.db", 10**9)
    store.open()
    kinds = ["scans"] * 3 + ["readings"] * 5 + ["scans"] + ["readings"] * 2
    store.append_many(
        [Entry(f"e{n}", lambda seq: json.dumps({"seq": seq}), kind) for n, kind in enumerate(kinds)]
    )
    events: queue.Queue[Any] = queue.Queue()
    topics: list[tuple[str, list[int]]] = []

    class Recording(FakeBroker):
        def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> int:
            if topic.endswith(("/scans", "/readings")):
                topics.append(
                    (topic.rsplit("/", 1)[1], [e["seq"] for e in json.loads(payload)["events"]])
                )
            return super().publish(topic, payload, qos, retain)

    settings = DeliverySettings(drain_rate=1e9, resend_after_s=30, health_interval_s=3600)
    sender = start_sender(store, settings, events, Recording(events))
    try:
        wait_for(lambda: _all_sent(topics, len(kinds)), timeout=30)
    finally:
        sender.stop()
        store.close()
    assert topics[:4] == [
        ("scans", [1, 2, 3]),
        ("readings", [4, 5, 6, 7, 8]),
        ("scans", [9]),
        ("readings", [10, 11]),
    ]


def _all_sent(topics: list[tuple[str, list[int]]], count: int) -> None:
    assert sorted(seq for _, seqs in topics for seq in seqs)[:count] == list(range(1, count + 1))


def test_an_outbox_kept_before_readings_opens_with_every_row_a_scan(tmp_path: Path) -> None:
    """An outbox file written by an agent before sterilizer readings (no kind column) is
    opened, its rows read back as scans, and new rows keep their kind."""
    path = tmp_path / "outbox.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
            "CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL,"
            " payload TEXT NOT NULL, created_ns INTEGER NOT NULL);"
            "INSERT INTO meta VALUES ('incarnation', 'old'), ('confirmed_seq', '0');"
            "INSERT INTO outbox (event_id, payload, created_ns) VALUES ('e1', '{}', 1);"
        )
    store = OutboxStore(path, 10**9)
    store.open()
    store.append_many([Entry("e2", lambda seq: "{}", "readings")])
    store.close()
    reader = OutboxReader(path)
    try:
        assert [(row.seq, row.kind) for row in reader.pending(1, 10)] == [
            (1, "scans"),
            (2, "readings"),
        ]
    finally:
        reader.close()
