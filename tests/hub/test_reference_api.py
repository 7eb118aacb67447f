"""Reference data over HTTP: rows put, read, deleted and imported with the same checks as
``scantrail-hub import``, each change audited as the token's holder, and every refusal a
4xx naming what was wrong, with nothing half written."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from hub.access.roles import Role
from hub.store.db import create_engine, migrate
from hub.web.app import create_app
from hub.web.limits import IMPORT_BYTES as MAX_IMPORT_BYTES
from tests.harness.api import Client, make_token


@pytest.fixture
def admin(database_url: str) -> Iterator[Client]:
    engine = create_engine(database_url)
    migrate(engine)
    app = create_app(engine)
    yield Client(app, make_token(engine, Role.ADMIN, name="ana"))
    engine.dispose()


def _put(api: Client, path: str, body: dict[str, Any]) -> Any:
    return api.request("PUT", path, json=body)


def test_a_row_put_with_its_printed_code_is_kept_under_its_key_and_audited_as_its_author(
    admin: Client,
) -> None:
    """PUT /reference/instruments/INS-7 stores site:INS-7; GET by either spelling finds it;
    the instrument's history shows the change made by the token's holder."""
    answer = _put(admin, "/api/v1/reference/instruments/INS-7", {"name": "Kelly clamp"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["code"] == "site:INS-7"
    for code in ("INS-7", "site:INS-7"):
        assert admin.get(f"/api/v1/reference/instruments/{code}").json()["name"] == "Kelly clamp"
    history = admin.get("/api/v1/history/INS-7").json()["items"]
    assert [(h["action"], h["actor"]) for h in history] == [("reference.put", "token:ana")]
    assert history[0]["detail"]["name"] == "Kelly clamp"


def test_a_tray_put_over_http_reaches_the_stations_snapshot(admin: Client) -> None:
    """A count sheet written through the API is what stations get in their snapshot."""
    body = {"name": "Basic set", "recipe": {"INS-1": 2, "forceps": 4}}
    assert _put(admin, "/api/v1/reference/trays/TRY-3", body).status_code == 200
    snapshot = admin.get("/api/v1/reference").json()
    trays = {t["key"]: t for t in snapshot["trays"]}
    assert trays["site:TRY-3"]["recipe"] == {"site:INS-1": 2, "forceps": 4}


def test_a_csv_import_stores_every_row_and_a_bad_row_stores_none(admin: Client) -> None:
    """Three good rows import; a file whose third row lacks a name is a 422 naming row 3
    and its field, and none of its rows is written."""
    good = "code,name,role\nUSR-1,Ana,tech\nUSR-2,Ben,tech\nUSR-3,Cy,porter\n"
    answer = admin.request(
        "POST",
        "/api/v1/reference/staff/import",
        content=good,
        headers={"Content-Type": "text/csv; charset=utf-8"},
    )
    assert answer.json() == {"kind": "staff", "imported": 3}
    bad = "code,name,role\nUSR-4,Di,tech\nUSR-5,Ed,tech\nUSR-6,,tech\n"
    refused = admin.request(
        "POST", "/api/v1/reference/staff/import", content=bad, headers={"Content-Type": "text/csv"}
    )
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["details"]["row"] == 3
    assert error["details"]["problems"][0]["where"] == "name"
    listed = admin.get("/api/v1/reference/staff").json()
    assert [s["code"] for s in listed["items"]] == ["site:USR-1", "site:USR-2", "site:USR-3"]


def test_a_json_import_pages_back_in_code_order(admin: Client) -> None:
    """Five locations imported as JSON come back two per page, in code order, to the end."""
    rows = [{"code": f"LOC-{n}", "name": f"Room {n}", "level": "room"} for n in range(5)]
    assert admin.request("POST", "/api/v1/reference/locations/import", json=rows).status_code == 200
    seen: list[str] = []
    after = ""
    while True:
        page = admin.get("/api/v1/reference/locations", params={"after": after, "limit": 2})
        body = page.json()
        seen += [row["code"] for row in body["items"]]
        if body["next_after"] is None:
            break
        after = body["next_after"]
    assert seen == [f"site:LOC-{n}" for n in range(5)]


def test_a_deleted_row_is_gone_and_its_deletion_is_audited(admin: Client) -> None:
    """DELETE answers 204, then the row is a 404, and deleting it again is a 404 too."""
    _put(admin, "/api/v1/reference/sterilizers/STE-B", {"name": "Steris B"})
    assert admin.request("DELETE", "/api/v1/reference/sterilizers/STE-B").status_code == 204
    assert admin.get("/api/v1/reference/sterilizers/STE-B").status_code == 404
    assert admin.request("DELETE", "/api/v1/reference/sterilizers/STE-B").status_code == 404
    actions = [h["action"] for h in admin.get("/api/v1/history/STE-B").json()["items"]]
    assert actions == ["reference.put", "reference.delete"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/reference/instruments/INS-1", {"name": "bad\x00name"}, "name"),
        ("/api/v1/reference/assets/AST-1", {"loan_period_days": 2**40}, "loan_period_days"),
        ("/api/v1/reference/trays/TRY-1", {"name": "Set", "recipe": {"INS-1": 0}}, "recipe"),
        ("/api/v1/reference/locations/LOC-1", {"name": "X", "level": "galaxy"}, "level"),
        ("/api/v1/reference/staff/USR-1", {"name": "Ana", "role": "tech", "pin": 1}, "pin"),
    ],
)
def test_a_row_the_import_would_refuse_is_a_422_naming_its_field(
    admin: Client, path: str, body: dict[str, Any], field: str
) -> None:
    """A NUL, a number past its bound, an empty count line, an unknown level or an unknown
    field is refused with the error body, and the row is not written."""
    answer = _put(admin, path, body)
    assert answer.status_code == 422, answer.text
    assert field in answer.json()["error"]["message"]
    assert admin.get(path).status_code == 404


def test_an_import_over_the_limit_or_of_another_type_is_refused_before_it_is_read(
    admin: Client,
) -> None:
    """A body past the size limit is a 413, XML is a 415, broken JSON is a 422."""
    huge = b"[" + b" " * MAX_IMPORT_BYTES + b"]"
    path = "/api/v1/reference/instruments/import"
    json_type = {"Content-Type": "application/json"}
    assert admin.request("POST", path, content=huge, headers=json_type).status_code == 413
    xml = {"Content-Type": "application/xml"}
    assert admin.request("POST", path, content=b"<a/>", headers=xml).status_code == 415
    broken = admin.request("POST", path, content=b"[{", headers=json_type)
    assert broken.status_code == 422
    assert broken.json()["error"]["code"] == "invalid_request"


def test_a_tech_may_read_reference_rows_but_not_change_them(database_url: str) -> None:
    """The tech's PUT is a 403 naming reference:write; its GET of the list answers 200."""
    engine = create_engine(database_url)
    migrate(engine)
    tech = Client.as_role(create_app(engine), engine, Role.TECH)
    refused = _put(tech, "/api/v1/reference/staff/USR-1", {"name": "Ana", "role": "tech"})
    assert refused.status_code == 403
    assert refused.json()["error"]["details"]["permission"] == "reference:write"
    assert tech.get("/api/v1/reference/staff").status_code == 200
    engine.dispose()


def test_reference_rows_are_found_by_part_of_their_name_in_any_case(admin: Client) -> None:
    """?name=MAYO finds both Mayo rows and not the clamp; % and _ are plain characters."""
    rows = [
        {"code": "INS-1", "name": "Mayo scissors"},
        {"code": "INS-2", "name": "Kelly clamp"},
        {"code": "INS-3", "name": "mayo stand 50%_x"},
    ]
    assert admin.request("POST", "/api/v1/reference/instruments/import", json=rows).is_success
    found = admin.get("/api/v1/reference/instruments", params={"name": "MAYO"}).json()["items"]
    assert [r["code"] for r in found] == ["site:INS-1", "site:INS-3"]
    literal = admin.get("/api/v1/reference/instruments", params={"name": "50%_"}).json()["items"]
    assert [r["code"] for r in literal] == ["site:INS-3"]
    assert admin.get("/api/v1/reference/instruments", params={"name": "%"}).json()["items"] == [
        r for r in literal
    ]
