"""What the rules read: one scan as the hub decoded it, and a typed view of the records it
touches, gathered by the database edge before ``rules.decide`` runs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from protocol.sterilizer import SterilizerReading


def utc(at: datetime) -> datetime:
    """SQLite hands timestamps back naive; they were stored as UTC."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def event_key(at: datetime, agent_id: str, incarnation: str, seq: int) -> str:
    """Sorts in event order, breaks ties the same way everywhere, names the cause scan."""
    return f"{utc(at):%Y-%m-%dT%H:%M:%S.%f}Z|{agent_id}|{incarnation}|{seq:012d}"


@dataclass(frozen=True)
class Scan:
    """One applied scan as reconcile sees it: the hub's own decoding plus the context."""

    key: str  # event key: sorts in event order and names the cause scan
    at: datetime  # event time
    agent_id: str
    kind: str | None  # the hub's decoding of raw: instrument, tray, asset, ...
    code: str | None  # the decoded key
    kept: bool
    action: str | None = None
    session_id: str | None = None
    session_kind: str | None = None
    target: str | None = None
    condition: str | None = None
    operator: str | None = None
    station: str | None = None
    lot: str | None = None  # GS1 (10), from the hub's own decoding
    expiry: str | None = None  # GS1 (17), YYMMDD
    blocked: bool = False  # the station refused a use from its reference snapshot
    # A line of a sterilizer's record (hub/reconcile/capture.py), not a scan: the rules
    # never see it. ``raw`` is the line as printed.
    reading: SterilizerReading | None = None
    raw: str | None = None


@dataclass(frozen=True)
class Policy:
    """A site's choices among the rules (hub.toml ``[records]``)."""

    second_person_release: bool = False  # the releaser must not be the load's operator


DEFAULT_POLICY = Policy()


@dataclass(frozen=True)
class SessionView:
    session_id: str
    kind: str
    key: str
    status: str  # open|closed|cancelled
    members: tuple[str, ...] = ()  # what the session collected, for a move's close
    operator: str | None = None  # the badge logged in when it opened


@dataclass(frozen=True)
class LoadFacts:
    """The load an item was last put in before a use, as the use rule needs it."""

    session_id: str
    sterilizer: str
    status: str


@dataclass(frozen=True)
class ItemFacts:
    """An item scanned at the point of use, as it was before this scan."""

    status: str | None  # None: never seen before
    load: LoadFacts | None  # its last load before this scan
    used_in_case: bool = False  # a use of it in this case is already recorded


@dataclass(frozen=True)
class TrayFacts:
    """A tray's assembly as its close needs it: what was scanned, against its count sheet."""

    tray: str
    scanned: tuple[str, ...]
    categories: Mapping[str, str]  # instrument code: its catalogue category
    recipe: Mapping[str, int]  # count-sheet line (a code or a category): how many


@dataclass(frozen=True)
class CycleFacts:
    """What the Bowie-Dick rule needs of one cycle on a sterilizer's day."""

    session_id: str
    cycle_type: str | None
    started_key: str
    completed_key: str | None
    result: str | None
    cancelled: bool


@dataclass(frozen=True)
class DayFacts:
    """A load that is closing, and its sterilizer's day before it."""

    load: CycleFacts
    earlier: tuple[CycleFacts, ...]  # the day's cycles that started before it
    prevac: bool  # a prevacuum sterilizer, which needs a Bowie-Dick test each day


@dataclass(frozen=True)
class View:
    """The facts one scan's decision reads, beyond the scan itself. The edge fills only
    what the scan's action needs; the rest stays None."""

    session: SessionView | None = None  # the session the scan names
    replaced: SessionView | None = None  # opening a case: the station's case before it
    item: ItemFacts | None = None  # a use or return at the point of use
    tray: TrayFacts | None = None  # closing a tray's assembly
    day: DayFacts | None = None  # closing a load


@dataclass(frozen=True)
class CycleState:
    """A load's cycle as its contents' outcome needs it."""

    result: str | None  # pass|fail once completed
    completed_key: str | None
    completed_at: datetime | None
    implant: bool
    early_release: bool
    bi_result: str | None
    bi_key: str | None
    physical_result: str | None = None  # the sterilizer's record: pass|fail once judged
    physical_key: str | None = None
