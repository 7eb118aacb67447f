"""What one scan changes in the records: the values ``rules.decide`` returns and the
database edge (hub/reconcile/writers.py) writes, one handler per kind."""

from __future__ import annotations

from dataclasses import dataclass

from hub.domain.statuses import AlertKind, Severity


@dataclass(frozen=True)
class OpenSession:
    session_id: str
    kind: str
    key: str


@dataclass(frozen=True)
class CloseSession:
    session_id: str
    kind: str
    result: str | None


@dataclass(frozen=True)
class CancelSession:
    session_id: str
    kind: str


@dataclass(frozen=True)
class AddItem:
    session_id: str
    kind: str  # the session's kind
    action: str  # add|use|return|loan
    item: str
    item_kind: str
    session_key: str  # the tray, case, patient... the session is about
    condition: str | None = None


@dataclass(frozen=True)
class CycleField:
    session_id: str
    name: str  # a cycles column: cycle_number, cycle_type, exposure_min, bi_lot, ...
    value: str


@dataclass(frozen=True)
class BiResult:
    label: str
    result: str


@dataclass(frozen=True)
class MoveAssets:
    assets: tuple[str, ...]
    location: str


@dataclass(frozen=True)
class EquipmentEvent:
    asset: str
    kind: str  # loan|return|cleaned, or an AssetStatus set by command
    patient: str | None


@dataclass(frozen=True)
class Inspection:
    asset: str
    result: str  # pass|fail


@dataclass(frozen=True)
class Alert:
    severity: Severity
    kind: AlertKind
    detail: str
    # The key of what it is about (an item, tray, case, asset, sterilizer or a load's cycle
    # label), so a page links it and the condition's end can resolve it.
    subject: str | None = None
    # Raised once while an alert of this kind and condition is open (hub/store/alerts.py);
    # None: every occurrence is news.
    condition: str | None = None


@dataclass(frozen=True)
class ChecklistResult:
    """A tray's assembly compared with its count sheet when it closed."""

    session_id: str
    tray: str
    count: int
    missing: dict[str, int]  # count-sheet line: how many short
    extra: list[str]  # instruments the count sheet does not ask for

    @property
    def short(self) -> bool:
        return bool(self.missing)


Change = (
    OpenSession
    | CloseSession
    | CancelSession
    | AddItem
    | CycleField
    | BiResult
    | ChecklistResult
    | MoveAssets
    | EquipmentEvent
    | Inspection
    | Alert
)
