"""Every alert the hub raises goes through one writer (hub/store/alerts.py): logged, stored
in the raising transaction, its detail bounded."""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from structlog.testing import CapturingLogger

from hub.store import alerts as writer
from hub.store.alerts import MAX_DETAIL_CHARS, Alerts
from hub.store.tables import alerts
from tests.harness.stations import HubUnderTest, ScriptedStation

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def logged(monkeypatch: pytest.MonkeyPatch) -> CapturingLogger:
    """The writer's log lines. A structlog logger is cached on first use, so the capture
    replaces the writer's logger rather than reconfiguring structlog."""
    capture = CapturingLogger()
    monkeypatch.setattr(writer, "log", capture)
    return capture


def test_an_alert_is_logged_and_stored_with_its_detail_bounded(
    hub: HubUnderTest, logged: CapturingLogger
) -> None:
    """Each alert is one warning naming its severity and kind, and one stored row; a detail
    longer than the bound is cut to it."""
    raised = Alerts(datetime(2026, 12, 6, tzinfo=UTC))
    raised.add("high", "unsafe_use", "pi-or", "site:INS-1 used from load-9")
    raised.add("low", "return_without_use", "pi-or", "x" * (MAX_DETAIL_CHARS + 500))
    with hub.engine.begin() as conn:
        raised.write(conn)
    assert [(c.method_name, c.kwargs["severity"], c.kwargs["kind"]) for c in logged.calls] == [
        ("warning", "high", "unsafe_use"),
        ("warning", "low", "return_without_use"),
    ]
    with hub.engine.connect() as conn:
        rows = conn.execute(sa.select(alerts).order_by(alerts.c.id)).all()
    assert [(r.severity, r.kind, r.agent_id) for r in rows] == [
        ("high", "unsafe_use", "pi-or"),
        ("low", "return_without_use", "pi-or"),
    ]
    assert len(rows[1].detail) == MAX_DETAIL_CHARS


def test_the_rules_alerts_raised_while_projecting_are_each_logged_once(
    hub: HubUnderTest, logged: CapturingLogger
) -> None:
    """A return with no use, of an instrument and a case nobody registered: each alert the
    projector stores is one log line, in the same order."""
    theatre = ScriptedStation("pi-or", "point_of_use")
    hub.deliver(theatre.scan("CASE-1", "CMD-RETURN", "INS-5"))
    raised = [c.kwargs["kind"] for c in logged.calls if c.args == ("alert.raised",)]
    with hub.engine.connect() as conn:
        stored = conn.execute(sa.select(alerts.c.kind).order_by(alerts.c.id)).scalars().all()
    assert raised == stored
    assert sorted(set(stored)) == ["return_without_use", "unregistered_code"]


def test_no_module_but_the_writer_inserts_alerts() -> None:
    """The alerts table is written in one place, so every alert is logged the same way."""
    writers = []
    for path in (ROOT / "hub").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            inserts = (
                isinstance(node, ast.Attribute)
                and node.attr == "insert"
                and isinstance(node.value, ast.Name)
                and node.value.id == "alerts"
            )
            if inserts:
                writers.append(str(path.relative_to(ROOT)))
    assert writers == ["hub/store/alerts.py"]
