"""The topic tree, and the one map from topic kind to payload model (DESIGN.md §3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from pydantic import BaseModel

from protocol.errors import UnknownTopic
from protocol.messages import (
    AgentHealth,
    AgentStatus,
    EventBatch,
    HubAck,
    ReadingBatch,
    is_agent_id,
)

TopicKind = Literal["scans", "readings", "status", "health", "ack"]
TOPIC_KINDS: tuple[TopicKind, ...] = get_args(TopicKind)

PAYLOAD_BY_KIND: dict[TopicKind, type[BaseModel]] = {
    "scans": EventBatch,
    "readings": ReadingBatch,
    "status": AgentStatus,
    "health": AgentHealth,
    "ack": HubAck,
}
QOS_BY_KIND: dict[TopicKind, int] = {
    "scans": 1,
    "readings": 1,
    "status": 1,
    "health": 0,
    "ack": 1,
}
RETAIN_BY_KIND: dict[TopicKind, bool] = {
    "scans": False,
    "readings": False,
    "status": True,
    "health": False,
    "ack": True,
}


@dataclass(frozen=True)
class Topic:
    """``{prefix}/v1/agents/{agent_id}/{kind}``, validated on construction."""

    prefix: str
    agent_id: str
    kind: TopicKind

    def __post_init__(self) -> None:
        if not self.prefix or any(c in self.prefix for c in "+#") or self.prefix.endswith("/"):
            raise UnknownTopic(f"bad topic prefix {self.prefix!r}")
        if not is_agent_id(self.agent_id):
            raise UnknownTopic(f"bad agent id {self.agent_id!r}", reason="bad_agent_id")
        if self.kind not in TOPIC_KINDS:
            raise UnknownTopic(f"unknown topic kind {self.kind!r}")

    def __str__(self) -> str:
        return f"{self.prefix}/v1/agents/{self.agent_id}/{self.kind}"

    @classmethod
    def parse(cls, topic: str, prefix: str) -> Topic:
        head = f"{prefix}/v1/agents/"
        if not topic.startswith(head):
            raise UnknownTopic(f"topic {topic!r} is outside {head}")
        parts = topic[len(head) :].split("/")
        if len(parts) != 2 or parts[1] not in TOPIC_KINDS:
            raise UnknownTopic(f"topic {topic!r} is not a v1 agent topic")
        if parts[0] == HUB_AGENT_ID:
            raise UnknownTopic(f"agent id {HUB_AGENT_ID!r} is the hub's own", reason="reserved")
        return cls(prefix, parts[0], parts[1])


# What an agent may do under its own topics, and nothing under another's: the broker's ACL
# (hub/provision/broker.py) is made from these, the hub's from the inverse.
AGENT_PUBLISHES: tuple[TopicKind, ...] = ("scans", "readings", "status", "health")
# The kinds that carry a stream's events: one seq numbering, one watermark, across both.
EVENT_KINDS: tuple[TopicKind, ...] = ("scans", "readings")
AGENT_READS: tuple[TopicKind, ...] = ("ack",)

# The scan log's stream for what people enter at the hub (a load's fields through the API),
# so the records derive from the log alone. No agent may publish under this id.
HUB_AGENT_ID = "hub"


# One topic for the whole site, hub -> every station, QoS 1 and retained, so a station that
# (re)connects reads the newest notice at once: which items are unsafe changed.
REFERENCE_QOS = 1
REFERENCE_RETAIN = True


def reference_topic(prefix: str) -> str:
    """``{prefix}/v1/reference``: its payload is a ``ReferenceNotice``."""
    return f"{prefix}/v1/reference"


def subscription(prefix: str, kind: TopicKind) -> str:
    """The wildcard filter the hub subscribes to for one kind."""
    return f"{prefix}/v1/agents/+/{kind}"
