"""The site's reference notice (hub/notice.py), against a real database that scripted
stations scan into; the publish port is a list."""

from __future__ import annotations

from hub.notice import BlockedNotice
from protocol import codec
from protocol.messages import ReferenceNotice
from tests.harness.stations import HubUnderTest, ScriptedStation


def test_the_notice_is_published_once_per_change_of_the_blocked_set(hub: HubUnderTest) -> None:
    """The first check publishes the (empty) unsafe set retained; a move, and an item put
    in a running load, publish nothing; the load failing publishes a new version naming
    one item."""
    sent: list[tuple[str, bytes, int, bool]] = []
    notice = BlockedNotice(hub.engine, lambda *message: sent.append(message), "site-a")
    assert notice.check()
    topic, payload, qos, retain = sent[-1]
    assert (topic, qos, retain) == ("site-a/v1/reference", 1, True)
    empty = codec.decode(ReferenceNotice, payload)
    assert empty.unsafe == 0

    porter = ScriptedStation("pi-porter", "asset_move")
    hub.deliver(porter.scan("AST-1", "LOC-1"))
    assert not notice.check() and len(sent) == 1
    ste = ScriptedStation("pi-ste", "sterilizer")
    hub.deliver(ste.scan("STE-A1", "STE-A1.5", "INS-9"))
    assert not notice.check() and len(sent) == 1  # in a running load: left to the poll

    hub.deliver(ste.scan("CMD-CYCLE-FAIL"))
    assert notice.check()
    failed = codec.decode(ReferenceNotice, sent[-1][1])
    assert failed.unsafe == 1 and failed.unsafe_version != empty.unsafe_version
    assert not notice.check()
