"""Alerts the hub resolves when their condition ends, saying when and why (DESIGN.md §6):
a case that began, a station's clock that synced again, missing scans that arrived; and a
condition that repeats is one open alert per station."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from hub import refdata
from hub.store.tables import alerts
from tests.harness.stations import HubUnderTest, ScriptedStation


def _alerts(hub: HubUnderTest, kind: str) -> list[Any]:
    with hub.engine.connect() as conn:
        return conn.execute(sa.select(alerts).where(alerts.c.kind == kind)).all()


def test_a_case_not_ready_is_resolved_when_the_case_begins(
    hub: HubUnderTest, tmp_path: Path
) -> None:
    """CASE-88 starts soon with a tray never scanned: one open alert about CASE-88, which a
    restarted hub does not raise again; once the OR opens the case, the next check
    resolves it, saying the case began."""
    now = datetime.now(UTC)
    case = {"code": "CASE-88", "scheduled_start": (now + timedelta(minutes=30)).isoformat()}
    path = tmp_path / "cases.json"
    path.write_text(json.dumps([{**case, "trays": ["TRY-8"]}]))
    refdata.load(hub.engine, "cases", path)
    assert hub.checks.check_readiness(now) == 1
    (open_,) = _alerts(hub, "case_not_ready")
    assert open_.subject == "site:CASE-88" and open_.resolved_at is None
    restarted = HubUnderTest(hub.engine.url.render_as_string(hide_password=False))
    assert restarted.checks.check_readiness(now) == 0  # still open: not raised again
    restarted.engine.dispose()
    room = ScriptedStation("pi-or", "point_of_use")
    hub.deliver(room.scan("USR-2", "CASE-88"))
    hub.checks.check_readiness(now)
    (ended,) = _alerts(hub, "case_not_ready")
    assert ended.resolved_at is not None and ended.resolved_reason == "the case began"


def test_an_unsynced_clock_is_one_open_alert_per_station_until_it_syncs(
    hub: HubUnderTest,
) -> None:
    """Unsynced scans over two boots raise one alert; after a synced scan the next check
    resolves it; a later unsynced scan opens a new one."""
    porter = ScriptedStation("pi-drift", "asset_move")

    def unsynced(boot: str, *codes: str) -> list[Any]:
        update = {"clock_synced": False, "boot_id": boot}
        return [e.model_copy(update=update) for e in porter.scan(*codes)]

    hub.deliver(unsynced("boot-1", "AST-1", "LOC-1"))
    hub.deliver(unsynced("boot-2", "AST-2", "LOC-2"))
    (alert,) = _alerts(hub, "clock_unsynced")
    assert alert.resolved_at is None and alert.agent_id == "pi-drift"
    hub.deliver(porter.scan("AST-3", "LOC-3"))
    hub.checks.check_clocks(datetime.now(UTC))
    (alert,) = _alerts(hub, "clock_unsynced")
    assert alert.resolved_reason == "the station's clock synced again"
    hub.deliver(unsynced("boot-3", "AST-4", "LOC-4"))
    assert [a.resolved_at is None for a in _alerts(hub, "clock_unsynced")] == [False, True]


def test_a_gap_alert_is_resolved_when_the_missing_scans_arrive(hub: HubUnderTest) -> None:
    """A gap open too long alerts; once its scans arrive, the next check resolves it."""
    porter = ScriptedStation("pi-gap", "asset_move")
    events = porter.scan("AST-1", "AST-2", "LOC-1")
    hub.deliver(events[2:])
    later = datetime.now(UTC) + timedelta(minutes=11)
    assert hub.checks.check_gaps(later) == 1
    hub.deliver(events[:2])
    hub.checks.check_gaps(later)
    (alert,) = _alerts(hub, "gap_open")
    assert alert.resolved_reason == "the missing scans arrived"
