"""Derived values, recomputed from everything known each time a fact arrives, so the order
facts arrive in does not matter: an asset's loans and status, its assignments' ends, a
tray's checklist, the next inspection, a GS1 date."""

from __future__ import annotations

import calendar
import json
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from protocol.vocabulary import AssetStatus

ASSET_STATUSES = frozenset(AssetStatus)


def recipe_of(text: str) -> dict[str, int]:
    value = json.loads(text)
    return {str(k): int(v) for k, v in value.items()}


@dataclass(frozen=True)
class Checklist:
    count: int
    missing: dict[str, int]
    extra: list[str]

    @property
    def short(self) -> bool:
        return bool(self.missing)


def checklist(scanned: list[str], categories: dict[str, str], recipe: dict[str, int]) -> Checklist:
    """Compare scanned instruments with a count sheet whose lines name an instrument code
    or a category. A code line is filled by that code first; the rest fill category lines."""
    need = Counter(recipe)
    extra: list[str] = []
    for code in sorted(scanned):
        if need[code] > 0:
            need[code] -= 1
        elif need[categories.get(code, "")] > 0:
            need[categories[code]] -= 1
        else:
            extra.append(code)
    missing = {k: n for k, n in sorted(need.items()) if n > 0}
    return Checklist(len(scanned), missing, extra)


@dataclass(frozen=True)
class Loan:
    loan_key: str
    patient: str | None
    loaned_at: datetime
    returned_at: datetime | None = None
    cleaned_at: datetime | None = None
    lent_by: str | None = None
    due_back: datetime | None = None

    @property
    def status(self) -> str:
        if self.cleaned_at is not None:
            return "available"
        return "on_loan" if self.returned_at is None else "needs_cleaning"


@dataclass(frozen=True)
class EquipmentFold:
    loans: list[Loan] = field(default_factory=list)
    status: str = "available"
    patient: str | None = None
    status_key: str | None = None


@dataclass(frozen=True)
class EquipmentFact:
    """One equipment event of an asset, as stored."""

    key: str  # event key
    kind: str  # loan|return|cleaned, or an AssetStatus set by command
    patient: str | None
    at: datetime
    by: str | None  # the badge logged in


def fold_equipment(events: list[EquipmentFact], loan_days: int | None = None) -> EquipmentFold:
    """An asset's loans and status from its events, in event order. A return or cleaning
    with no loan before it still sets the status (it was lent before scantrail saw it); a
    status set by command holds until the next event. A loan is due back ``loan_days``
    after it began."""
    loans: list[Loan] = []
    status, patient, status_key = "available", None, None
    for fact in sorted(events, key=lambda f: f.key):
        status_key = fact.key
        if fact.kind == "loan":
            due = fact.at + timedelta(days=loan_days) if loan_days else None
            loans.append(Loan(fact.key, fact.patient, fact.at, lent_by=fact.by, due_back=due))
            status, patient = "on_loan", fact.patient
        elif fact.kind == "return":
            if loans and loans[-1].returned_at is None:
                loans[-1] = replace(loans[-1], returned_at=fact.at)
            status, patient = "needs_cleaning", None
        elif fact.kind == "cleaned":
            if loans and loans[-1].returned_at is not None and loans[-1].cleaned_at is None:
                loans[-1] = replace(loans[-1], cleaned_at=fact.at)
            status, patient = "available", None
        elif fact.kind in ASSET_STATUSES:
            status = fact.kind
            patient = patient if fact.kind == "on_loan" else None
    return EquipmentFold(loans, status, patient, status_key)


def assignment_ends(starts: list[tuple[str, datetime]]) -> dict[str, datetime | None]:
    """Each assignment (event key, started_at) ends when the next one in event order starts."""
    ordered = sorted(starts)
    return {
        key: (ordered[i + 1][1] if i + 1 < len(ordered) else None)
        for i, (key, _) in enumerate(ordered)
    }


def next_inspection(at: datetime, interval_days: int | None) -> datetime | None:
    """When the next inspection falls due after one at ``at``; None with no interval."""
    return at + timedelta(days=interval_days) if interval_days else None


def gs1_date(yymmdd: str) -> date | None:
    """A GS1 date field (YYMMDD; day 00 is the month's last day), or None if not one.
    Years are read as 20YY: a BI or an implant label never dates from the 1900s."""
    if len(yymmdd) != 6 or not yymmdd.isdigit():
        return None
    year, month, day = 2000 + int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:])
    if not 1 <= month <= 12:
        return None
    if day == 0:
        day = calendar.monthrange(year, month)[1]
    try:
        return date(year, month, day)
    except ValueError:
        return None
