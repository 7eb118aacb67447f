"""What the hub's writer acks and when, through the broker port (hub/ingest/worker.py
``Broker``) faked as a recording: nothing is PUBACKed before its scans are committed, and
each agent's retained ack carries its watermark and its first gap."""

from __future__ import annotations

import sqlalchemy as sa

from hub.ingest.triage import Message
from hub.store.tables import scan_log
from tests.harness import factories
from tests.harness.stations import HubUnderTest, message


def _stored(hub: HubUnderTest, agent_id: str) -> list[int]:
    """The seqs of ``agent_id`` that a separate connection sees: committed ones only."""
    with hub.engine.connect() as conn:
        c = scan_log.c
        return sorted(conn.execute(sa.select(c.seq).where(c.agent_id == agent_id)).scalars())


def test_each_message_is_pubacked_after_its_scans_are_committed_then_each_agent_acked_once(
    hub: HubUnderTest,
) -> None:
    """Two agents' messages in one batch: each PUBACK comes in the order received and
    sees its scans committed; then one retained ack per agent with its watermark."""
    first = message(list(factories.batch("pi-a", range(1, 4)).events))
    second = message(list(factories.batch("pi-b", range(1, 3)).events))
    seen_at_puback: list[tuple[str, list[int]]] = []

    def puback(taken: Message) -> None:
        agent = taken.topic.split("/")[3]
        seen_at_puback.append((agent, _stored(hub, agent)))

    hub.broker.on_puback = puback
    hub.worker.process([first, second])
    assert seen_at_puback == [("pi-a", [1, 2, 3]), ("pi-b", [1, 2])]
    kinds = [kind for kind, _ in hub.broker.done]
    assert kinds == ["puback", "puback", "ack", "ack"]
    acks = {ack.agent_id: ack for ack in hub.broker.acks()}
    assert (acks["pi-a"].confirmed_seq, acks["pi-b"].confirmed_seq) == (3, 2)
    assert all(ack.resend_from is None for ack in acks.values())


def test_a_gap_holds_the_acked_watermark_and_names_the_gap_until_it_is_filled(
    hub: HubUnderTest,
) -> None:
    """Seqs 1-2 and 5-6: the ack confirms 2 and asks for 3-4; once they come, it confirms
    6 and asks for nothing; the same message again is acked again, unchanged."""
    hub.worker.process([message(list(factories.batch("pi-g", range(1, 3)).events))])
    hub.worker.process([message(list(factories.batch("pi-g", range(5, 7)).events))])
    gap = hub.broker.acks()[-1]
    assert (gap.confirmed_seq, gap.resend_from, gap.resend_to) == (2, 3, 4)
    filling = message(list(factories.batch("pi-g", range(3, 5)).events))
    hub.worker.process([filling])
    hub.worker.process([filling])
    filled, again = hub.broker.acks()[-2:]
    assert (filled.confirmed_seq, filled.resend_from) == (6, None)
    assert (again.confirmed_seq, again.resend_from) == (6, None)
    assert [kind for kind, _ in hub.broker.done].count("puback") == 4
