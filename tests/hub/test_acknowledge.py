"""Acknowledging an alert: a tech's token does it once with a note, the alert shows who
and why, the audit trail names the token's holder and still verifies."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hub.access.roles import Role
from hub.store import audit_chain
from hub.web.app import create_app
from tests.harness.api import Client, make_token
from tests.harness.stations import HubUnderTest, ScriptedStation


@pytest.fixture
def hub(database_url: str) -> Iterator[HubUnderTest]:
    hub = HubUnderTest(database_url)
    ste = ScriptedStation("pi-ste", "sterilizer")
    hub.deliver(ste.scan("STE-A1", "STE-A1.5", "INS-9", "CMD-CYCLE-FAIL"))  # alerts
    yield hub
    hub.engine.dispose()


def test_a_tech_acknowledges_an_alert_once_and_the_audit_trail_names_them(
    hub: HubUnderTest,
) -> None:
    """200 with the alert marked by Ana and her note; again: 409; the audit entry's actor
    is the token's holder and the chain verifies with the projector's entries around it."""
    app = create_app(hub.engine)
    ana = Client(app, make_token(hub.engine, Role.TECH, name="Ana Ruiz"))
    alert_id = ana.get("/api/v1/alerts").json()["items"][0]["id"]
    done = ana.request("POST", f"/api/v1/alerts/{alert_id}/ack", json={"note": "Registered it"})
    assert done.status_code == 200, done.text
    body = done.json()
    assert (body["acknowledged_by"], body["ack_note"]) == ("token:Ana Ruiz", "Registered it")
    listed = {a["id"]: a for a in ana.get("/api/v1/alerts").json()["items"]}
    assert listed[alert_id]["acknowledged_at"] is not None
    again = ana.request("POST", f"/api/v1/alerts/{alert_id}/ack", json={"note": "twice"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    audit = Client.as_role(app, hub.engine).get("/api/v1/audit", params={"limit": 1000})
    (entry,) = [e for e in audit.json()["items"] if e["action"] == "acknowledge"]
    assert entry["actor"] == "token:Ana Ruiz" and entry["entity_key"] == str(alert_id)
    ste = ScriptedStation("pi-ste2", "sterilizer")
    hub.deliver(ste.scan("STE-B1", "INS-1", "CMD-CYCLE-PASS"))  # the projector appends after
    assert audit_chain.verify(hub.engine).ok


def test_acknowledging_needs_the_permission_a_note_and_an_alert_that_exists(
    hub: HubUnderTest,
) -> None:
    """A viewer gets 403; an empty note or one with a NUL 422; an alert that does not
    exist 404."""
    app = create_app(hub.engine)
    viewer = Client(app, make_token(hub.engine, Role.VIEWER))
    refused = viewer.request("POST", "/api/v1/alerts/1/ack", json={"note": "x"})
    assert refused.status_code == 403
    tech = Client(app, make_token(hub.engine, Role.TECH))
    for note in ("", "bad\x00note"):  # PostgreSQL cannot store a NUL: refused before it
        assert tech.request("POST", "/api/v1/alerts/1/ack", json={"note": note}).status_code == 422
    missing = tech.request("POST", "/api/v1/alerts/99999/ack", json={"note": "x"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_alerts_filter_by_severity_kind_agent_and_whether_still_open(hub: HubUnderTest) -> None:
    """The fixture's alerts are medium unregistered codes from pi-ste; once one is
    acknowledged, open_only lists the rest; a high filter finds none; another agent none."""
    app = create_app(hub.engine)
    ana = Client(app, make_token(hub.engine, Role.TECH, name="Ana Ruiz"))
    every = ana.get("/api/v1/alerts").json()["items"]
    assert len(every) >= 2
    assert {(a["severity"], a["kind"], a["agent_id"]) for a in every} == {
        ("medium", "unregistered_code", "pi-ste")
    }
    first = every[0]["id"]
    ana.request("POST", f"/api/v1/alerts/{first}/ack", json={"note": "seen"})
    still_open = ana.get("/api/v1/alerts", params={"open_only": True}).json()["items"]
    assert [a["id"] for a in still_open] == [a["id"] for a in every[1:]]
    assert ana.get("/api/v1/alerts", params={"severity": "high"}).json()["items"] == []
    assert ana.get("/api/v1/alerts", params={"agent_id": "pi-or"}).json()["items"] == []
    by_kind = ana.get("/api/v1/alerts", params={"kind": "unregistered_code"}).json()["items"]
    assert len(by_kind) == len(every)
