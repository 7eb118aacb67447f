"""The hub's own status: /healthz follows the writer, /api/v1/status shows projection lag."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from hub import refdata
from hub.health import WriterHealth
from hub.web.app import create_app
from tests.harness import factories
from tests.harness.api import Client
from tests.harness.stations import HubUnderTest, ScriptedStation


def _json(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def test_the_status_shows_scans_stored_but_not_yet_projected_until_the_projector_catches_up(
    sqlite_url: str,
) -> None:
    """Acked scans the projector has not reached count as lag, with the oldest one's age;
    once it has run the lag is zero."""
    hub = HubUnderTest(sqlite_url)
    client = Client.as_role(create_app(hub.engine, lambda: hub.worker.health), hub.engine)
    hub.deliver(factories.batch("pi-lag", range(1, 6)).events, project=False)
    projection = _json(client.get("/api/v1/status"))["projection"]
    assert (projection["lag_scans"], projection["lagging_streams"]) == (5, 1)
    assert projection["oldest_unprojected_age_s"] >= 0
    (agent,) = _json(client.get("/api/v1/agents"))["items"]
    assert (agent["confirmed_seq"], agent["projected_seq"]) == (5, 0)
    hub.project_all()
    projection = _json(client.get("/api/v1/status"))["projection"]
    assert (projection["lag_scans"], projection["oldest_unprojected_at"]) == (0, None)
    hub.engine.dispose()


def test_healthz_says_unavailable_while_the_writer_cannot_reach_the_database(
    sqlite_url: str,
) -> None:
    """The writer's view wins: a database the API can still read but the writer cannot
    write makes /healthz answer 503 with the reason."""
    hub = HubUnderTest(sqlite_url)
    down = WriterHealth("unavailable", "OperationalError: database is locked", datetime.now(UTC))
    client = Client(create_app(hub.engine, lambda: down), None)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "OperationalError: database is locked"
    assert Client(create_app(hub.engine), None).get("/healthz").status_code == 200
    hub.engine.dispose()


def test_records_and_audit_entries_name_the_person_behind_each_badge(
    database_url: str, tmp_path: Path
) -> None:
    """A load scanned by badge USR-ANA, imported as Ana Ruiz, shows her name and role next
    to the badge in the cycle record and in its audit entries; an unknown badge shows none."""
    hub = HubUnderTest(database_url)
    staff = tmp_path / "staff.json"
    staff.write_text(json.dumps([{"code": "USR-ANA", "name": "Ana Ruiz", "role": "SPD tech"}]))
    refdata.load(hub.engine, "staff", staff)
    ste = ScriptedStation("pi-ste", "sterilizer")
    hub.deliver(ste.scan("USR-ANA", "STE-A1", "INS-1", "CMD-CYCLE-PASS"))
    hub.deliver(ste.scan("USR-ZED", "STE-A1", "INS-2", "CMD-CYCLE-PASS"))
    client = Client.as_role(create_app(hub.engine), hub.engine)
    cycles = _json(client.get("/api/v1/records/cycles"))["items"]
    people = {(c["operator"], c["operator_name"], c["operator_role"]) for c in cycles}
    assert people == {("site:USR-ANA", "Ana Ruiz", "SPD tech"), ("site:USR-ZED", None, None)}
    audit = _json(client.get("/api/v1/audit?limit=1000"))["items"]
    ana = [e for e in audit if e["actor"] == "site:USR-ANA"]
    assert ana and {e["actor_name"] for e in ana} == {"Ana Ruiz"}
    hub.engine.dispose()


def test_cases_move_from_scheduled_to_in_progress_to_done(
    database_url: str, tmp_path: Path
) -> None:
    """A scheduled case not yet scanned is scheduled; one replaced by the next case is done
    (ended by next_case); the open one is in progress; CMD-DONE ends it."""
    hub = HubUnderTest(database_url)
    plan = tmp_path / "cases.json"
    plan.write_text(
        json.dumps(
            [
                {"code": f"CASE-{n}", "room": "LOC-OR3", "scheduled_start": f"2026-11-20T0{n}:00Z"}
                for n in (1, 2, 3)
            ]
        )
    )
    refdata.load(hub.engine, "cases", plan)
    orr = ScriptedStation("pi-or", "point_of_use")
    hub.deliver(orr.scan("CASE-1", "INS-1", "CASE-2", "INS-2"))
    client = Client.as_role(create_app(hub.engine), hub.engine)

    def statuses() -> dict[str, tuple[str, str | None]]:
        cases = _json(client.get("/api/v1/cases"))["items"]
        return {c["case"]: (c["status"], c["ended_by"]) for c in cases}

    assert statuses() == {
        "site:CASE-1": ("done", "next_case"),
        "site:CASE-2": ("in_progress", None),
        "site:CASE-3": ("scheduled", None),
    }
    hub.deliver(orr.scan("CMD-DONE"))
    assert statuses()["site:CASE-2"] == ("done", "CMD-DONE")
    page = _json(client.get("/api/v1/cases?limit=2"))
    assert [c["case"] for c in page["items"]] == ["site:CASE-1", "site:CASE-2"]
    rest = _json(client.get(f"/api/v1/cases?after={page['next_after']}"))["items"]
    assert [c["case"] for c in rest] == ["site:CASE-3"]
    hub.engine.dispose()


def test_an_asset_moved_to_a_gln_wall_label_is_where_that_location_is_in_the_hierarchy(
    database_url: str, tmp_path: Path
) -> None:
    """A porter scans a pump and the room's GS1 GLN label (414): the pump is in that
    registered room, and "where is" gives the path site / building / floor / department /
    room with the move; an unknown asset is a 404."""
    hub = HubUnderTest(database_url)
    places = [
        ("LOC-SITE", "site", None, None),
        ("LOC-BLDA", "building", "LOC-SITE", None),
        ("LOC-FL2", "floor", "LOC-BLDA", None),
        ("LOC-ICU", "department", "LOC-FL2", None),
        ("LOC-ICU1", "room", "LOC-ICU", "5412345000013"),
    ]
    path = tmp_path / "locations.json"
    path.write_text(
        json.dumps(
            [
                {"code": code, "name": code.title(), "level": level, "parent": parent, "gln": gln}
                for code, level, parent, gln in places
            ]
        )
    )
    refdata.load(hub.engine, "locations", path)
    porter = ScriptedStation("pi-porter", "asset_move")
    hub.deliver(porter.scan("USR-ANA", "AST-P1", "4145412345000013"))
    client = Client.as_role(create_app(hub.engine), hub.engine)
    where = _json(client.get("/api/v1/assets/site:AST-P1/where"))
    assert where["location"] == "site:LOC-ICU1"
    assert [(p["code"], p["level"]) for p in where["path"]] == [
        (f"site:{code}", level) for code, level, _, _ in places
    ]
    (move,) = where["history"]
    assert (move["location"], move["moved_by"]) == ("site:LOC-ICU1", "site:USR-ANA")
    assert client.get("/api/v1/assets/site:AST-NONE/where").status_code == 404
    hub.engine.dispose()
