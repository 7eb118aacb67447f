"""Alert-once lives in the database (hub/store/alerts.py): for every kind raised once per
condition, a database outage at the moment it is raised does not lose it when the work is
done again, and a restarted hub does not raise it again while it is open."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from hub import refdata
from hub.errors import DatabaseUnavailable
from hub.store.tables import alerts
from tests.harness.stations import HubUnderTest, ScriptedStation


@contextmanager
def outage_at_next_alert(engine: Engine) -> Iterator[list[str]]:
    """The next INSERT into alerts fails as a database that went away does. Injected at the
    driver's edge because a real outage cannot be timed to one statement; the database and
    everything else stay real. Yields what it failed, so a test knows it struck."""
    struck: list[str] = []

    def fail(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if not struck and statement.lstrip().upper().startswith("INSERT INTO ALERTS"):
            struck.append(statement)
            raise sa.exc.OperationalError(statement, params, ConnectionError("server gone"))

    sa.event.listen(engine, "before_cursor_execute", fail)
    try:
        yield struck
    finally:
        sa.event.remove(engine, "before_cursor_execute", fail)


def _import(hub: HubUnderTest, folder: Path, kind: str, rows: list[dict[str, Any]]) -> None:
    path = folder / f"{kind}.json"
    path.write_text(json.dumps(rows))
    refdata.load(hub.engine, kind, path)


@dataclass
class Condition:
    """How to bring an alert's condition about, and the work that raises it (round n: a
    kind raised by scans takes new scans each round)."""

    kind: str
    arrange: Callable[[HubUnderTest, Path], None]
    raise_it: Callable[[HubUnderTest, int], object]


def _gap() -> Condition:
    now = datetime.now(UTC)
    porter = ScriptedStation("pi-gap", "asset_move")
    events = porter.scan("AST-1", "AST-2", "LOC-1")
    return Condition(
        "gap_open",
        lambda hub, _: hub.deliver(events[2:]),
        lambda hub, _: hub.checks.check_gaps(now + timedelta(minutes=11)),
    )


def _case() -> Condition:
    now = datetime.now(UTC)
    start = (now + timedelta(minutes=30)).isoformat()
    case = {"code": "CASE-88", "scheduled_start": start, "trays": ["TRY-8"]}
    return Condition(
        "case_not_ready",
        lambda hub, folder: _import(hub, folder, "cases", [case]),
        lambda hub, _: hub.checks.check_readiness(now),
    )


def _inspection() -> Condition:
    now = datetime.now(UTC)

    def arrange(hub: HubUnderTest, folder: Path) -> None:
        _import(hub, folder, "assets", [{"code": "AST-P1", "inspection_interval_days": 30}])
        hub.deliver(
            ScriptedStation("pi-ward", "equipment_checkout").scan("CMD-INSPECT-PASS", "AST-P1")
        )

    return Condition(
        "inspection_overdue",
        arrange,
        lambda hub, _: hub.checks.check_overdue(now + timedelta(days=40)),
    )


def _loan() -> Condition:
    now = datetime.now(UTC)

    def arrange(hub: HubUnderTest, folder: Path) -> None:
        model = {"code": "Alaris 8100", "loan_period_days": 2}
        _import(hub, folder, "asset_models", [model])
        _import(hub, folder, "assets", [{"code": "AST-P2", "model": "Alaris 8100"}])
        hub.deliver(ScriptedStation("pi-ward", "equipment_checkout").scan("PAT-7", "AST-P2"))

    return Condition(
        "loan_overdue", arrange, lambda hub, _: hub.checks.check_overdue(now + timedelta(days=3))
    )


def _unsynced() -> Condition:
    porter = ScriptedStation("pi-drift", "asset_move")
    batches: dict[int, list[Any]] = {}

    def raise_it(hub: HubUnderTest, n: int) -> None:
        # The same scans when the work is done again, new ones in the next round.
        if n not in batches:
            scans = porter.scan(f"AST-{n}", f"LOC-{n}")
            batches[n] = [e.model_copy(update={"clock_synced": False}) for e in scans]
        hub.deliver(batches[n])

    return Condition("clock_unsynced", lambda hub, _: None, raise_it)


def _unregistered() -> Condition:
    ste = ScriptedStation("pi-ste", "sterilizer")
    batches: dict[int, list[Any]] = {}

    def raise_it(hub: HubUnderTest, n: int) -> None:
        if n not in batches:
            batches[n] = ste.scan("STE-Z9", f"STE-Z9.{n + 1}", "CMD-CYCLE-PASS")
        hub.deliver(batches[n])

    return Condition("unregistered_code", lambda hub, _: None, raise_it)


CONDITIONS = {
    c.__name__.strip("_"): c for c in (_gap, _case, _inspection, _loan, _unsynced, _unregistered)
}


def _open(hub: HubUnderTest, kind: str) -> list[Any]:
    with hub.engine.connect() as conn:
        return conn.execute(
            sa.select(alerts).where(alerts.c.kind == kind, alerts.c.resolved_at.is_(None))
        ).all()


@pytest.mark.parametrize("name", list(CONDITIONS))
def test_an_outage_when_an_alert_is_raised_loses_nothing_and_a_restart_repeats_nothing(
    hub: HubUnderTest, tmp_path: Path, name: str
) -> None:
    """The database goes away as the alert is written: the work fails, done again it raises
    the alert once, and a restarted hub doing it again raises no second one."""
    condition = CONDITIONS[name]()
    condition.arrange(hub, tmp_path)
    assert _open(hub, condition.kind) == []
    with outage_at_next_alert(hub.engine) as struck, pytest.raises(DatabaseUnavailable):
        condition.raise_it(hub, 0)
    assert struck and _open(hub, condition.kind) == []
    condition.raise_it(hub, 0)  # as the writer's Patience does once the database is back
    assert len(_open(hub, condition.kind)) == 1
    restarted = HubUnderTest(hub.engine.url.render_as_string(hide_password=False))
    try:
        condition.raise_it(restarted, 1)
        condition.raise_it(restarted, 2)
    finally:
        restarted.engine.dispose()
    (alert,) = _open(hub, condition.kind)
    assert alert.condition.startswith(f"{condition.kind}:")
