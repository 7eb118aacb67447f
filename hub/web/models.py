"""What the API answers, as models, so the schema says what comes back (and schemathesis
checks every answer against it). Records' models are made from their tables, so a column
added to a table is in the schema without a second list of fields."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, create_model

from hub.store import queries
from protocol.messages import ScanEvent

MAX_ID = 2**63 - 1  # a database integer holds no more: a larger id is a 422, not a 500


class _Answer(BaseModel):
    # Answers may carry more than declared (additive within v1): clients ignore the rest.
    model_config = ConfigDict(extra="allow")


class Projection(_Answer):
    lag_scans: int = Field(description="Scans stored and not yet in the records.")
    lagging_streams: int
    oldest_unprojected_at: datetime | None
    oldest_unprojected_age_s: float


class HubRow(_Answer):
    name: str
    role: str = Field(description="leader (projects, runs the timed checks), follower, stopped.")
    running: bool
    host: str | None = None
    pid: int | None = None
    version: str | None = None
    started_at: datetime | None = None
    seen_at: datetime | None = None


class Status(_Answer):
    version: str
    database: str = Field(description="ok, or unavailable while the writer cannot write.")
    set_aside_scans: int = Field(description="Scans the projector set aside (alerted).")
    projection: Projection
    hub: str = Field(description="This hub's name.")
    role: str = Field(description="This hub's role: leader or follower.")
    leader: str | None = Field(description="The hub that leads, if one is running.")
    hubs: list[HubRow] = Field(description="Every hub on this database, the leader first.")


class ScanRow(_Answer):
    id: int
    agent_id: str
    incarnation: str
    seq: int
    event_id: str
    scanned_at: datetime
    received_at: datetime
    raw: str
    event: ScanEvent = Field(description="The scan as the agent sent it.")


class ScanPage(_Answer):
    items: list[ScanRow]
    next_after_id: int | None


class Agent(_Answer):
    agent_id: str
    online: bool
    state: str | None = Field(description="online, offline (the broker's will) or stopped.")
    station: str | None
    mode: str | None
    version: str | None
    last_seen_at: datetime | None
    incarnation: str | None
    confirmed_seq: int
    projected_seq: int
    max_seen_seq: int
    gap_since: datetime | None
    backlog: int | None
    oldest_unconfirmed_age_s: float | None
    health_at: datetime | None
    alarms: list[Any]
    scanners_connected: int | None
    disk_free_bytes: int | None
    clock_synced: bool | None
    clock_offset_s: float | None
    clock_skewed: bool | None
    reference_age_s: float | None


class AgentList(_Answer):
    items: list[Agent]


class User(_Answer):
    username: str
    role: str
    created_at: datetime
    disabled_at: datetime | None


class UserList(_Answer):
    items: list[User]


class Session(_Answer):
    id: int
    name: str = Field(description="who signed in: user:<name>, or the token's holder")
    role: str
    created_at: datetime
    expires_at: datetime


class SessionList(_Answer):
    items: list[Session]


class DeadLetter(_Answer):
    id: int
    received_at: datetime
    topic: str
    agent_id: str | None
    reason: str
    detail: str
    payload: str = Field(description="As received, cut to 64 KiB.")
    payload_bytes: int
    replayed_at: datetime | None
    replayed_by: str | None
    replay_result: dict[str, Any] | None


class DeadLetterPage(_Answer):
    items: list[DeadLetter]
    next_after_id: int | None


class Alert(_Answer):
    id: int
    created_at: datetime
    severity: str
    kind: str
    agent_id: str | None
    detail: str
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    ack_note: str | None
    subject: str | None = Field(None, description="The key (or load session) it is about.")
    resolved_at: datetime | None = Field(
        None, description="When the hub saw its condition end (a case began, a clock synced)."
    )
    resolved_reason: str | None = None


class AlertPage(_Answer):
    items: list[Alert]
    next_after_id: int | None


class _Entry(_Answer):
    """An audit entry's common part: who (a badge with its person, or a token) did what."""

    id: int
    at: datetime
    actor: str | None
    actor_name: str | None
    actor_role: str | None
    action: str
    entity: str
    cause: str | None = Field(description="The cause scan's event key, if a scan caused it.")


class HistoryEntry(_Entry):
    detail: Any
    agent_id: str | None
    station: str | None
    raw: str | None
    scanned_at: str | None = Field(None, description="When the cause scan was taken (UTC).")
    received_at: str | None = Field(None, description="When it reached the hub (UTC).")


class HistoryPage(_Answer):
    items: list[HistoryEntry]
    next_after_id: int | None


class Case(_Answer):
    case: str
    status: str = Field(description="scheduled, in_progress, done or cancelled.")
    room: str | None
    room_name: str | None = Field(None, description="The room's name, from the locations.")
    scheduled_start: datetime | None
    procedure: str | None
    session_id: str | None
    agent_id: str | None
    started_at: datetime | None
    ended_at: datetime | None
    ended_by: str | None


class CasePage(_Answer):
    items: list[Case]
    next_after: str | None


class AuditEntry(_Entry):
    entity_key: str
    detail: str = Field(description="Canonical JSON, as hashed.")
    prev_hash: str
    hash: str


class AuditPage(_Answer):
    items: list[AuditEntry]
    next_after_id: int | None


class PathStep(_Answer):
    code: str
    name: str | None
    level: str | None


class RecallLoad(_Answer):
    session_id: str
    cycle_number: str | None
    status: str
    bi_result: str | None
    started_at: datetime
    completed_at: datetime | None


class RecallItem(_Answer):
    item: str
    load: str
    via_tray: str | None
    kind: str | None
    status: str | None
    location: str | None


class RecallCase(_Answer):
    case: str
    item: str
    used_at: datetime | None


class Recall(_Answer):
    label: str
    sterilizer: str
    loads: list[RecallLoad]
    items: list[RecallItem]
    cases: list[RecallCase]


def record_model(name: str, table: sa.Table, key_kind: str | None) -> type[BaseModel]:
    """A record row as the API gives it: the table's columns, each badge's ``_name`` and
    ``_role``, and each catalogued code's ``_name`` (queries.named_rows adds them)."""
    fields: dict[str, Any] = {}
    for column in table.columns:
        kind: Any = column.type.python_type
        fields[column.name] = (kind | None if column.nullable else kind, ...)
        if column.name in queries.BADGES:
            fields[f"{column.name}_name"] = (str | None, None)
            fields[f"{column.name}_role"] = (str | None, None)
        if column.name in queries.NAMED_CODES:
            fields[f"{column.name}_name"] = (str | None, None)
    if key_kind is not None:
        fields["key_name"] = (str | None, None)
    return create_model(name, __base__=_Answer, **fields)


def page_model(name: str, item: type[BaseModel]) -> type[BaseModel]:
    return create_model(
        name,
        __base__=_Answer,
        items=(list[item], ...),  # type: ignore[valid-type]
        next_after=(str | None, Field(None, description="Pass as after for the next page.")),
    )


class LoadItem(_Answer):
    item: str
    item_name: str | None = None
    kind: str | None
    via_tray: str | None = Field(description="The tray it went in with; null: added itself.")


class WhereIs(_Answer):
    asset: str
    status: str | None
    location: str | None
    path: list[PathStep] = Field(description="From the site down to the location.")
    history: list[dict[str, Any]] = Field(description="Its newest moves, newest first.")
