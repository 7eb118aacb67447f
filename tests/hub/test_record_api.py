"""Record lists as people search them: by case, by code as printed, by location and
everything under it, by status, sterilizer and time, with reference names and keyset
pages; a filter a list does not have is a 422 naming it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from hub import refdata
from hub.web.app import create_app
from tests.harness.api import Client
from tests.harness.stations import START, HubUnderTest, ScriptedStation

REFERENCE = {
    "instruments": [{"code": "INS-1", "name": "Mayo scissors"}],
    "sterilizers": [{"code": "STE-A1", "name": "Steris A1", "cycle_types": ["gravity"]}],
    "locations": [
        {"code": "LOC-SITE", "name": "General", "level": "site"},
        {"code": "LOC-ICU", "name": "ICU", "level": "department", "parent": "LOC-SITE"},
        {"code": "LOC-ICU-B4", "name": "ICU bay 4", "level": "bay", "parent": "LOC-ICU"},
        {"code": "LOC-OR", "name": "Theatres", "level": "department", "parent": "LOC-SITE"},
    ],
}


@pytest.fixture
def api(database_url: str, tmp_path: Path) -> Iterator[Client]:
    hub = HubUnderTest(database_url)
    for kind, rows in REFERENCE.items():
        path = tmp_path / f"{kind}.json"
        path.write_text(json.dumps(rows))
        refdata.load(hub.engine, kind, path)
    ste = ScriptedStation("pi-ste", "sterilizer")
    orr = ScriptedStation("pi-or", "point_of_use", START + timedelta(hours=2))
    porter = ScriptedStation("pi-porter", "asset_move", START + timedelta(hours=3))
    hub.deliver(
        ste.scan("STE-A1", "STE-A1.1", "INS-1", "CMD-CYCLE-PASS"),
        ste.scan("STE-A1", "STE-A1.2", "INS-2", "CMD-CYCLE-FAIL"),
        orr.scan("CASE-88", "INS-1", "INS-3", "CMD-DONE", "CASE-89", "INS-4"),
        porter.scan("AST-1", "AST-2", "LOC-ICU-B4", "AST-3", "LOC-OR"),
        porter.scan("AST-4", "AST-5", "LOC-ICU"),
    )
    yield Client.as_role(create_app(hub.engine), hub.engine)
    hub.engine.dispose()


def _items(api: Client, path: str, **params: Any) -> list[dict[str, Any]]:
    response = api.get(path, params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def test_usage_by_case_takes_the_case_as_printed_and_names_the_instruments(api: Client) -> None:
    """?key=CASE-88 (or case=site:CASE-88) lists that case's two uses, each item with its
    catalogue name where one was imported."""
    by_key = _items(api, "/api/v1/records/usage", key="CASE-88")
    assert sorted(u["item"] for u in by_key) == ["site:INS-1", "site:INS-3"]
    assert _items(api, "/api/v1/records/usage", case="site:CASE-88") == by_key
    names = {u["item"]: u["item_name"] for u in by_key}
    assert names == {"site:INS-1": "Mayo scissors", "site:INS-3": None}


def test_a_location_filter_takes_everything_under_it(api: Client) -> None:
    """Assets in ICU bay 4 and in ICU itself are under ICU; the one in theatres is not; the
    site holds all five."""
    in_icu = _items(api, "/api/v1/records/assets", location="LOC-ICU")
    assert sorted(a["key"] for a in in_icu) == [f"site:AST-{n}" for n in (1, 2, 4, 5)]
    assert {a["location_name"] for a in in_icu} == {"ICU bay 4", "ICU"}
    assert len(_items(api, "/api/v1/records/assets", location="LOC-SITE")) == 5


def test_cycles_filter_by_status_sterilizer_and_time(api: Client) -> None:
    """The failed load alone by status; both by sterilizer with its name; none after the
    day's loads, both in a range around them."""
    failed = _items(api, "/api/v1/records/cycles", status="failed")
    assert [c["cycle_number"] for c in failed] == ["2"]
    both = _items(api, "/api/v1/records/cycles", sterilizer="STE-A1")
    assert len(both) == 2 and {c["sterilizer_name"] for c in both} == {"Steris A1"}
    later = (START + timedelta(hours=1)).isoformat()
    assert _items(api, "/api/v1/records/cycles", since=later) == []
    assert len(_items(api, "/api/v1/records/cycles", since=START.isoformat(), until=later)) == 2


def test_keyset_pages_cover_a_list_once(api: Client) -> None:
    """Five assignments two at a time: three pages, every row once, in key order; plain
    text is a position: the rows whose asset sorts after it."""
    seen: list[tuple[str, str]] = []
    params: dict[str, Any] = {"limit": 2}
    pages = 0
    while True:
        body = api.get("/api/v1/records/assignments", params=params).json()
        pages += 1
        seen += [(a["asset"], a["event_key"]) for a in body["items"]]
        if body["next_after"] is None:
            break
        params["after"] = body["next_after"]
    assert pages == 3 and len(seen) == 5 and seen == sorted(set(seen))
    after_text = _items(api, "/api/v1/records/assignments", after="site:AST-3")
    assert sorted(a["asset"] for a in after_text) == ["site:AST-4", "site:AST-5"]


def test_a_filter_the_list_does_not_have_is_refused_naming_it(api: Client) -> None:
    """Assets have no sterilizer and no time column: a 422 whose details name the
    parameter; each list's schema declares only its own filters."""
    for name, value in (("sterilizer", "STE-A1"), ("since", START.isoformat())):
        response = api.get("/api/v1/records/assets", params={name: value})
        assert response.status_code == 422
        error = response.json()["error"]
        assert error["code"] == "invalid_request" and error["details"][0]["where"][-1] == name
    schema = api.get("/api/v1/openapi.json").json()
    declared = schema["paths"]["/api/v1/records/assets"]["get"]["parameters"]
    assert {p["name"] for p in declared} == {"key", "status", "location", "after", "limit"}


def test_an_instruments_history_names_each_cause_scan_and_station(api: Client) -> None:
    """INS-1 as printed: imported into the catalogue, then it went into load STE-A1.1 at
    pi-ste, then was used in CASE-88 at pi-or, oldest first, each scan's entry with the raw
    scan behind it; an unknown code has none."""
    entries = _items(api, "/api/v1/history/INS-1")
    assert [(e["actor"], e["action"]) for e in entries[:1]] == [("cli:import", "reference.put")]
    scanned = entries[1:]
    assert [(e["station"], e["raw"]) for e in scanned] == [("pi-ste", "INS-1"), ("pi-or", "INS-1")]
    assert [e["detail"]["kind"] for e in scanned] == ["load", "case"]
    assert [e["id"] for e in entries] == sorted(e["id"] for e in entries)
    assert _items(api, "/api/v1/history/INS-404") == []
