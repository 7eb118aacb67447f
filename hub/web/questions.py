"""The questions a department asks the hub, each one route with a typed answer: which cases
in the next hours are not ready, what is overdue, and which trays were short, by period.
The writer alerts on the first two from the same reads (hub/store/due.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from hub.access.roles import Permission
from hub.store import due, queries, reports
from hub.store.db import as_utc
from hub.web import guard
from hub.web.context import Ctx


class TrayReadiness(BaseModel):
    tray: str
    tray_name: str | None = None
    status: str | None = Field(description="The tray's status; null: never scanned.")
    load_status: str | None = Field(description="The status of the load it last went through.")
    not_ready: str | None = Field(description="Why it is not ready; null when it is.")


class CaseReadiness(BaseModel):
    case: str
    room: str | None
    room_name: str | None = None
    procedure: str | None
    scheduled_start: datetime
    ready: bool = Field(description="Every tray on its preference card is ready.")
    trays: list[TrayReadiness]


class Readiness(BaseModel):
    since: datetime
    until: datetime
    cases: list[CaseReadiness] = Field(description="Not begun yet, in start order.")


class OverdueInspection(BaseModel):
    asset: str
    due: datetime
    location: str | None


class OverdueLoan(BaseModel):
    asset: str
    due: datetime
    patient: str | None
    lent_by: str | None


class Overdue(BaseModel):
    at: datetime
    inspections: list[OverdueInspection]
    loans: list[OverdueLoan]


class ShortTray(BaseModel):
    tray: str
    tray_name: str | None = None
    times_short: int
    missing: dict[str, int] = Field(description="Item or category: how many were missing.")


class MissingPeriod(BaseModel):
    period: str = Field(description="A UTC day (2026-11-20) or an ISO week (2026-W47).")
    trays_short: int
    trays: list[ShortTray]


class MissingItems(BaseModel):
    since: datetime
    until: datetime
    periods: list[MissingPeriod]


router = APIRouter(dependencies=[guard.permit(Permission.READ_RECORDS)])


@router.get("/api/v1/readiness")
def readiness(
    ctx: Ctx,
    hours: Annotated[float, Query(gt=0, le=168, description="How far ahead.")] = 4,
) -> Readiness:
    """Cases scheduled in the next ``hours`` and not begun, each tray of the preference
    card with whether it is sterile from a released load and, if not, why."""
    now = datetime.now(UTC)
    until = now + timedelta(hours=hours)
    with ctx.engine.connect() as conn:
        cases = due.readiness(conn, now, until - now)
        trays = [tray for case in cases for tray in case["trays"]]
        queries.with_names(conn, trays, None)
        queries.with_names(conn, cases, None)
    return Readiness(since=now, until=until, cases=[CaseReadiness(**c) for c in cases])


@router.get("/api/v1/overdue")
def overdue(ctx: Ctx) -> Overdue:
    """Assets past their inspection's due date, and loans past their due-back time,
    oldest due first."""
    now = datetime.now(UTC)
    with ctx.engine.connect() as conn:
        inspections = [d.facts for d in due.overdue_inspections(conn, now)]
        loans = [d.facts for d in due.overdue_loans(conn, now)]
    return Overdue(
        at=now,
        inspections=[OverdueInspection(**i) for i in inspections],
        loans=[OverdueLoan(**loan) for loan in loans],
    )


@router.get("/api/v1/reports/missing-items")
def missing_items(
    ctx: Ctx,
    since: Annotated[datetime | None, Query(description="Default: 7 days ago.")] = None,
    until: Annotated[datetime | None, Query(description="Default: now.")] = None,
    period: Annotated[reports.Period, Query()] = "day",
) -> MissingItems:
    """Trays closed short, per UTC day or ISO week: how often each, and what it was
    missing in total. A range that ends before it starts is empty."""
    end = _at_or_edge(until) if until else datetime.now(UTC)
    start = _at_or_edge(since) if since else _at_or_edge(end, -timedelta(days=7))
    with ctx.engine.connect() as conn:
        periods = reports.missing_items(conn, start, end, period)
        queries.with_names(conn, [t for p in periods for t in p["trays"]], None)
    return MissingItems(since=start, until=end, periods=[MissingPeriod(**p) for p in periods])


def _at_or_edge(at: datetime, moved: timedelta = timedelta(0)) -> datetime:
    """``at + moved`` in UTC; a time moved off the calendar stops at its edge."""
    try:
        return as_utc(at) + moved
    except OverflowError:
        edge = datetime.min if at.year < 2000 else datetime.max
        return edge.replace(tzinfo=UTC)
