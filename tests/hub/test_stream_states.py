"""The live stream's states, read from a real database: the dead letters' state is news
when one is kept and when one is replayed, and not otherwise."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import sqlalchemy as sa

from hub.store.tables import dead_letters
from hub.web.stream import Cursor, _poll, _Seen
from tests.harness.stations import HubUnderTest


def _letter(hub: HubUnderTest) -> None:
    with hub.engine.begin() as conn:
        conn.execute(
            sa.insert(dead_letters),
            {
                "received_at": datetime.now(UTC),
                "topic": "t",
                "reason": "bad_json",
                "detail": "x",
                "payload": "{",
                "payload_bytes": 1,
            },
        )


def test_the_dead_letter_state_is_news_when_one_is_kept_or_replayed(hub: HubUnderTest) -> None:
    """A first poll tells the state; a poll with nothing new tells nothing; a new letter
    and a replay are each one frame."""
    seen, cursor, kinds = _Seen(), Cursor(0, 0), frozenset({"dead_letter"})

    def told() -> list[dict[str, object]]:
        frames, _ = _poll(hub.engine, cursor, kinds, seen)
        return [json.loads(f.split("data: ", 1)[1]) for f in frames]

    assert told() == [{"newest_id": None, "replayed": 0}]
    assert told() == []
    _letter(hub)
    (state,) = told()
    assert state["replayed"] == 0 and state["newest_id"] is not None
    assert told() == []
    with hub.engine.begin() as conn:
        conn.execute(sa.update(dead_letters).values(replayed_at=datetime.now(UTC)))
    assert told() == [{"newest_id": state["newest_id"], "replayed": 1}]
