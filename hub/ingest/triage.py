"""Sorting a batch of MQTT messages before the database: bytes in, typed work out. Pure.

Rules (DESIGN.md §2-3):
1. Every message is decoded and checked against the contract here. One that fails becomes
   a ``DeadLetter`` with the reason, and never reaches the database: no SAVEPOINT, no
   statement.
2. The topic, the payload and the sender agree, or the message is a spoofed sender.
3. Scans are grouped per stream (agent, incarnation) and keyed by seq, so the database
   edge writes each stream once per transaction. The same seq twice in one batch with the
   same content is a redelivery; with other content it is a conflict (the first is kept).
4. Of several status or health messages of one agent in a batch, the last one counts.
5. Each scan remembers which message of the batch first carried it, so the projection
   queue keeps the order in which the hub received the scans across agents.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from protocol import codec
from protocol.errors import ProtocolError
from protocol.messages import MAX_ID_CHARS, AgentHealth, AgentStatus, EventBatch, ScanEvent
from protocol.topics import EVENT_KINDS, PAYLOAD_BY_KIND, Topic

StreamKey = tuple[str, str]  # (agent, incarnation)


@dataclass(frozen=True)
class Message:
    """One MQTT message as the consumer took it in."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    generation: int  # which connection delivered it: acks are only valid on that one
    # Stamped in paho's callback, before any queue: the clock estimate must not count the
    # hub's own queueing as the agent's clock error. With the hub's monotonic time beside
    # it, when it has it, a step of the hub's own clock shows (clocks.py).
    arrived_at: datetime
    arrived_mono_ns: int | None = None


@dataclass(frozen=True)
class DeadLetter:
    message: Message
    reason: str
    detail: str
    agent_id: str | None


@dataclass(frozen=True)
class Arrival:
    """A health message and when it arrived."""

    health: AgentHealth
    arrived_at: datetime
    arrived_mono_ns: int | None = None


@dataclass
class Triage:
    scans: dict[StreamKey, dict[int, ScanEvent]] = field(default_factory=dict)
    arrival: dict[tuple[str, str, int], int] = field(default_factory=dict)  # message index
    conflicts: list[ScanEvent] = field(default_factory=list)  # same seq, other content
    statuses: dict[str, AgentStatus] = field(default_factory=dict)
    healths: dict[str, Arrival] = field(default_factory=dict)
    dead: list[DeadLetter] = field(default_factory=list)


def triage(messages: list[Message], prefix: str) -> Triage:
    out = Triage()
    for index, message in enumerate(messages):
        try:
            _sort(message, index, prefix, out)
        except ProtocolError as exc:
            out.dead.append(DeadLetter(message, exc.reason, exc.message, agent_of(message, prefix)))
    return out


def _sort(message: Message, index: int, prefix: str, out: Triage) -> None:
    topic = Topic.parse(message.topic, prefix)
    if topic.kind in EVENT_KINDS:  # scans, or a sterilizer's readings: one stream
        batch = codec.decode(PAYLOAD_BY_KIND[topic.kind], message.payload)
        assert isinstance(batch, EventBatch)
        if _spoofed(message, topic, batch.agent_id, out):
            return
        stream = out.scans.setdefault((batch.agent_id, batch.incarnation), {})
        for event in batch.events:
            first = stream.setdefault(event.seq, event)
            if first is event:
                out.arrival[(batch.agent_id, batch.incarnation, event.seq)] = index
            elif first != event:
                out.conflicts.append(event)
    elif topic.kind == "status":
        status = codec.decode(AgentStatus, message.payload)
        if not _spoofed(message, topic, status.agent_id, out):
            out.statuses[status.agent_id] = status
    elif topic.kind == "health":
        health = codec.decode(AgentHealth, message.payload)
        if not _spoofed(message, topic, health.agent_id, out):
            arrived = (message.arrived_at, message.arrived_mono_ns)
            out.healths[health.agent_id] = Arrival(health, *arrived)
    else:
        raise ProtocolError(f"the hub does not consume {topic.kind}", reason="unexpected_topic")


def _spoofed(message: Message, topic: Topic, payload_agent: str, out: Triage) -> bool:
    if topic.agent_id == payload_agent:
        return False
    detail = f"topic names agent {topic.agent_id!r} but the payload says {payload_agent!r}"
    out.dead.append(DeadLetter(message, "agent_mismatch", detail, topic.agent_id))
    return True


def agent_of(message: Message, prefix: str) -> str | None:
    """The agent a topic names, if it is under the agents tree, for the dead letter."""
    parts = message.topic.split("/")
    head = prefix.split("/")
    if parts[: len(head) + 2] == [*head, "v1", "agents"] and len(parts) > len(head) + 2:
        return parts[len(head) + 2][:MAX_ID_CHARS]
    return None
