"""The v1 messages (DESIGN.md §3): frozen pydantic models, validated on construction.

Unknown fields are ignored (``extra="ignore"``) so a v1 reader accepts payloads from a
newer v1 writer. Renaming or removing a field is a v2 change.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from protocol.sterilizer import SterilizerReading

# Field sizes of the wire. The hub's columns are sized from these (hub/store/tables.py),
# so a value the contract accepts always fits where it is stored.
MAX_RAW_CHARS = 512
MAX_SHORT_TEXT = 128
MAX_ID_CHARS = 64  # agent ids and incarnations
MAX_BATCH_EVENTS = 500
MAX_BATCH_BYTES = 256 * 1024

# An agent id is one MQTT topic level and one ACL username: no wildcards, no slashes.
AGENT_ID_PATTERN = rf"^[A-Za-z0-9][A-Za-z0-9_.-]{{0,{MAX_ID_CHARS - 1}}}$"
_AGENT_ID_RE = re.compile(AGENT_ID_PATTERN)


def is_agent_id(text: str) -> bool:
    return bool(_AGENT_ID_RE.match(text))


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamps must carry a UTC offset")
    return value.astimezone(UTC)


AgentId = Annotated[str, Field(pattern=AGENT_ID_PATTERN)]
Incarnation = Annotated[
    str, Field(min_length=1, max_length=MAX_ID_CHARS, pattern=r"^[A-Za-z0-9_-]+$")
]
UtcDatetime = Annotated[datetime, AfterValidator(_utc)]


def _without_nul(value: str) -> str:
    """NUL becomes U+FFFD, the replacement character: a scanner line with noise may carry
    one, and PostgreSQL refuses NUL in text, so a scan holding one could never be stored
    and its station's stream would stop at it. One character for one keeps every length
    inside the field sizes the columns are made from."""
    return value.replace("\x00", "\ufffd")


Text = AfterValidator(_without_nul)
ShortText = Annotated[str, Field(max_length=MAX_SHORT_TEXT), Text]
RawText = Annotated[str, Field(max_length=MAX_RAW_CHARS), Text]


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", strict=False)


class ScanContext(_Message):
    """What the person at the station saw when they scanned."""

    station: ShortText | None = None
    mode: ShortText | None = None
    operator: ShortText | None = None
    session_id: ShortText | None = None
    session_kind: ShortText | None = None
    # What the station did with the scan (docs/stations.md): open, add, close, use, loan...
    action: ShortText | None = None
    target: ShortText | None = None  # what a command applied to, e.g. the cycle for a BI
    condition: ShortText | None = None  # condition on return, from CMD-COND-<c>


class Reading(_Message):
    """The agent's own decoding of ``raw``. The hub decodes again and is the authority."""

    kind: ShortText
    key: RawText | None = None
    symbology: ShortText | None = None
    warnings: tuple[ShortText, ...] = ()
    outcome: ShortText | None = None


class ScanEvent(_Message):
    event_id: UUID
    agent_id: AgentId
    incarnation: Incarnation
    seq: Annotated[int, Field(ge=1)]
    boot_id: ShortText
    monotonic_ns: Annotated[int, Field(ge=0)]
    scanned_at: UtcDatetime
    clock_synced: bool
    scanner_id: ShortText
    raw: RawText
    decoded: Reading | None = None
    context: ScanContext = ScanContext()
    # v1 additive: set on a sterilizer's line (protocol/sterilizer.py), never on a scan.
    sterilizer: SterilizerReading | None = None


class EventBatch(_Message):
    """One MQTT message on ``…/scans``: one agent, one incarnation, events in seq order."""

    agent_id: AgentId
    incarnation: Incarnation
    events: Annotated[tuple[ScanEvent, ...], Field(min_length=1, max_length=MAX_BATCH_EVENTS)]

    @model_validator(mode="after")
    def _one_stream_in_order(self) -> EventBatch:
        previous = 0
        for event in self.events:
            if event.agent_id != self.agent_id or event.incarnation != self.incarnation:
                raise ValueError("every event must belong to the batch's agent and incarnation")
            if event.seq <= previous:
                raise ValueError("events must be in strictly increasing seq order")
            previous = event.seq
        return self


class ReadingBatch(EventBatch):
    """One MQTT message on ``…/readings``: a sterilizer's lines, in seq order, numbered in
    the same stream as the station's scans (one watermark, one resend)."""

    @model_validator(mode="after")
    def _only_readings(self) -> ReadingBatch:
        if any(event.sterilizer is None for event in self.events):
            raise ValueError("every event on readings must carry a sterilizer reading")
        return self


class AgentStatus(_Message):
    """Retained on ``…/status``; the MQTT will publishes ``offline``."""

    agent_id: AgentId
    state: Literal["online", "offline", "stopped"]
    version: ShortText
    station: ShortText | None = None
    mode: ShortText | None = None
    at: UtcDatetime | None = None


class AgentHealth(_Message):
    """A QoS 0 heartbeat on ``…/health``."""

    agent_id: AgentId
    incarnation: Incarnation
    sent_at: UtcDatetime
    monotonic_ns: Annotated[int, Field(ge=0)]
    # v1 additive: the hub keeps one clock offset per agent and boot (DESIGN.md §6), since
    # a reboot of a Pi without an RTC starts its clock somewhere else.
    boot_id: ShortText | None = None
    backlog: Annotated[int, Field(ge=0)]
    oldest_unconfirmed_age_s: Annotated[float, Field(ge=0)] | None = None
    scanners_connected: Annotated[int, Field(ge=0)] = 0
    disk_free_bytes: Annotated[int, Field(ge=0)] | None = None
    clock_synced: bool
    last_confirmed_seq: Annotated[int, Field(ge=0)]
    alarms: tuple[ShortText, ...] = ()
    # v1 additive: how long since the hub last confirmed the station's reference snapshot.
    reference_age_s: Annotated[float, Field(ge=0)] | None = None


class ReferenceNotice(_Message):
    """Retained on ``{prefix}/v1/reference``: which items are unsafe changed (a load
    failed, a BI failed, an implant load is held, a quarantine was lifted). A station
    pulls its reference snapshot at once on it; ``unsafe_version`` names the set of unsafe
    items (protocol.reference.unsafe_version), so a station that already holds it need not
    pull again. Its timed poll stays as the fallback."""

    unsafe_version: Annotated[str, Field(min_length=1, max_length=64)]
    unsafe: Annotated[int, Field(ge=0)]
    changed_at: UtcDatetime


class HubAck(_Message):
    """Retained on ``…/ack``: the highest contiguous seq the hub durably applied."""

    agent_id: AgentId
    incarnation: Incarnation
    confirmed_seq: Annotated[int, Field(ge=0)]
    resend_from: Annotated[int, Field(ge=1)] | None = None
    # The last seq of the first gap (v1 additive): resend only [resend_from, resend_to].
    # A reader that does not know it resends everything from resend_from, which is correct
    # but slow.
    resend_to: Annotated[int, Field(ge=1)] | None = None
    # v1 additive: a seq the hub holds with other content than this incarnation sent. The
    # agent's numbering collided with the hub's (an outbox restored from an old copy), so
    # it re-sends what it holds under a new incarnation; the hub applies each event id once.
    conflict_seq: Annotated[int, Field(ge=1)] | None = None
    hub_time: UtcDatetime
