"""The department's questions over the API: case readiness for the next hours, what is
overdue, and which trays were short by day or week, each answered from the records with
reference names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hub.access.roles import Role
from hub.web.app import create_app
from tests.harness.api import Client, make_token
from tests.harness.stations import START, HubUnderTest, ScriptedStation


def _clients(hub: HubUnderTest) -> tuple[Client, Client]:
    app = create_app(hub.engine)
    return Client(app, make_token(hub.engine, Role.ADMIN)), Client(
        app, make_token(hub.engine, Role.VIEWER)
    )


def _import(admin: Client, kind: str, rows: list[dict[str, Any]]) -> None:
    answer = admin.request("POST", f"/api/v1/reference/{kind}/import", json=rows)
    assert answer.status_code == 200, answer.text


def test_readiness_lists_the_next_hours_cases_with_each_trays_state(hub: HubUnderTest) -> None:
    """CASE-1 in OR 1 in an hour needs TRY-7 (sterile from a released load) and TRY-8 (never
    scanned): not ready, naming TRY-8 only; CASE-2 in ten hours shows only when asked for
    twelve hours, and is ready."""
    admin, viewer = _clients(hub)
    now = datetime.now(UTC)
    _import(admin, "locations", [{"code": "LOC-OR1", "name": "OR 1", "level": "room"}])
    _import(admin, "trays", [{"code": "TRY-7", "name": "Basic set", "recipe": {"INS-1": 1}}])
    _import(
        admin,
        "cases",
        [
            {
                "code": "CASE-1",
                "scheduled_start": (now + timedelta(hours=1)).isoformat(),
                "trays": ["TRY-7", "TRY-8"],
                "procedure": "Appendectomy",
                "room": "LOC-OR1",
            },
            {
                "code": "CASE-2",
                "scheduled_start": (now + timedelta(hours=10)).isoformat(),
                "trays": ["TRY-7"],
            },
        ],
    )
    bench = ScriptedStation("pi-tray", "tray_assembly")
    bench.scan("TRY-7", "INS-1", "CMD-COMPLETE")
    spd = ScriptedStation("pi-ste", "sterilizer", bench.at + timedelta(minutes=30))
    hub.deliver(bench.events, spd.scan("STE-A1", "STE-A1.1", "TRY-7", "CMD-CYCLE-PASS"))

    soon = viewer.get("/api/v1/readiness", params={"hours": 4}).json()
    (case,) = soon["cases"]
    assert (case["case"], case["procedure"], case["ready"]) == (
        "site:CASE-1",
        "Appendectomy",
        False,
    )
    trays = {t["tray"]: t for t in case["trays"]}
    assert (case["room"], case["room_name"]) == ("site:LOC-OR1", "OR 1")
    assert trays["site:TRY-7"]["not_ready"] is None
    assert trays["site:TRY-7"]["tray_name"] == "Basic set"
    assert trays["site:TRY-8"]["not_ready"] == "has never been scanned"
    later = viewer.get("/api/v1/readiness", params={"hours": 12}).json()["cases"]
    assert [(c["case"], c["ready"]) for c in later] == [
        ("site:CASE-1", False),
        ("site:CASE-2", True),
    ]


def test_overdue_lists_inspections_and_loans_past_their_dates(hub: HubUnderTest) -> None:
    """A pump inspected with a one-day interval weeks ago and one lent with a one-day loan
    period and never returned are both overdue; an asset never inspected is not."""
    admin, viewer = _clients(hub)
    _import(
        admin,
        "assets",
        [
            {"code": "AST-P1", "inspection_interval_days": 1},
            {"code": "AST-P2", "loan_period_days": 1},
            {"code": "AST-P3", "inspection_interval_days": 1},
        ],
    )
    ward = ScriptedStation("pi-ward", "equipment_checkout")
    hub.deliver(ward.scan("CMD-INSPECT-PASS", "AST-P1", "USR-ANA", "PAT-1", "AST-P2"))
    answer = viewer.get("/api/v1/overdue").json()
    assert [(i["asset"], i["due"][:10]) for i in answer["inspections"]] == [
        ("site:AST-P1", (START + timedelta(days=1)).date().isoformat())
    ]
    (loan,) = answer["loans"]
    assert (loan["asset"], loan["lent_by"]) == ("site:AST-P2", "site:USR-ANA")


def test_missing_items_are_summed_per_tray_and_period(hub: HubUnderTest) -> None:
    """TRY-7 closed short twice on one day and once the next day, missing INS-2 each time:
    by day two periods (2 then 1), by week one period with 3 INS-2 missing."""
    admin, viewer = _clients(hub)
    _import(
        admin, "trays", [{"code": "TRY-7", "name": "Basic set", "recipe": {"INS-1": 1, "INS-2": 1}}]
    )
    first = ScriptedStation("pi-tray", "tray_assembly")
    first.scan("TRY-7", "INS-1", "CMD-COMPLETE", "TRY-7", "INS-1", "CMD-COMPLETE")
    next_day = ScriptedStation("pi-tray2", "tray_assembly", START + timedelta(days=1))
    hub.deliver(first.events, next_day.scan("TRY-7", "INS-1", "CMD-COMPLETE"))
    window = {
        "since": (START - timedelta(days=1)).isoformat(),
        "until": (START + timedelta(days=3)).isoformat(),
    }

    by_day = viewer.get("/api/v1/reports/missing-items", params=window).json()["periods"]
    assert [(p["period"], p["trays_short"]) for p in by_day] == [
        (START.date().isoformat(), 2),
        ((START + timedelta(days=1)).date().isoformat(), 1),
    ]
    by_week = viewer.get("/api/v1/reports/missing-items", params={**window, "period": "week"})
    (week,) = by_week.json()["periods"]
    (tray,) = week["trays"]
    assert (tray["tray_name"], tray["times_short"], tray["missing"]) == (
        "Basic set",
        3,
        {"site:INS-2": 3},
    )


def test_a_report_range_that_ends_before_it_starts_is_empty_and_an_unknown_period_a_422(
    hub: HubUnderTest,
) -> None:
    """until before since: no periods; a time at the calendar's edge: an answer; month: 422."""
    _, viewer = _clients(hub)
    path = "/api/v1/reports/missing-items"
    reversed_range = {"since": "2026-11-20T00:00:00Z", "until": "2026-11-19T00:00:00Z"}
    assert viewer.get(path, params=reversed_range).json()["periods"] == []
    edge = viewer.get(path, params={"until": "0001-01-01T00:00:00+23:00"})
    assert edge.status_code == 200 and edge.json()["periods"] == []
    assert viewer.get(path, params={"period": "month"}).status_code == 422
