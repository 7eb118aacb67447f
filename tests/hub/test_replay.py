"""Replaying a dead letter: once the database fault that refused a batch is fixed, an admin
replays it and its scans take effect once; a letter that still cannot be replayed is a 409
that says why, and stays replayable."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from hub.access.roles import Role
from hub.store.tables import dead_letters, scan_log
from hub.web.app import create_app
from tests.harness.api import Client, ingesting_client, make_token
from tests.harness.stations import HubUnderTest, ScriptedStation

REFUSED = "INS-REFUSED"


def _refuse(engine: sa.Engine, raw: str) -> None:
    """A database that refuses one label's scans, as a constraint a bad migration left."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(
                sa.text(
                    "CREATE TRIGGER refuse BEFORE INSERT ON scan_log "
                    f"WHEN NEW.raw = '{raw}' BEGIN SELECT RAISE(ABORT, 'refused'); END"
                )
            )
        else:
            conn.execute(
                sa.text(f"ALTER TABLE scan_log ADD CONSTRAINT refuse CHECK (raw <> '{raw}')")
            )


def _fix(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(sa.text("DROP TRIGGER refuse"))
        else:
            conn.execute(sa.text("ALTER TABLE scan_log DROP CONSTRAINT refuse"))


def _admin(hub: HubUnderTest) -> Client:
    return ingesting_client(hub.engine, Role.ADMIN, name="ana")


def _letters(hub: HubUnderTest) -> list[Any]:
    with hub.engine.connect() as conn:
        return list(conn.execute(sa.select(dead_letters).order_by(dead_letters.c.id)))


def _raws(hub: HubUnderTest) -> list[str]:
    with hub.engine.connect() as conn:
        return list(conn.execute(sa.select(scan_log.c.raw).order_by(scan_log.c.seq)).scalars())


def test_a_batch_refused_by_a_fault_since_fixed_is_replayed_once(hub: HubUnderTest) -> None:
    """The refused batch is a bad_data dead letter; after the fix its replay stores its
    scans, which the projector makes into records; the letter names who replayed it, the
    audit trail has the replay, and a second replay is a 409."""
    station = ScriptedStation("pi-tray", "tray_assembly")
    _refuse(hub.engine, REFUSED)
    hub.deliver(station.scan("TRY-1", REFUSED, "INS-2"))
    letter = _letters(hub)[0]
    assert letter.reason == "bad_data" and letter.agent_id == "pi-tray"
    assert _raws(hub) == []
    _fix(hub.engine)
    admin = _admin(hub)

    answer = admin.request("POST", f"/api/v1/dead-letters/{letter.id}/replay")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "dead_letter_id": letter.id,
        "agent_id": "pi-tray",
        "stored": 3,
        "duplicates": 0,
        "conflicts": 0,
    }
    assert _raws(hub) == ["TRY-1", REFUSED, "INS-2"]
    hub.project_all()
    items = admin.get("/api/v1/records/items", params={"key": REFUSED}).json()["items"]
    assert [i["tray"] for i in items] == ["site:TRY-1"]
    listed = admin.get("/api/v1/dead-letters").json()["items"][0]
    assert listed["replayed_by"] == "token:ana" and listed["replay_result"]["stored"] == 3
    audit = admin.get("/api/v1/audit").json()["items"]
    assert [(a["action"], a["actor"]) for a in audit if a["entity"] == "dead_letter"] == [
        ("dead_letter.replay", "token:ana")
    ]

    again = admin.request("POST", f"/api/v1/dead-letters/{letter.id}/replay")
    assert again.status_code == 409
    assert again.json()["error"]["details"] == {"reason": "replayed_already"}
    assert _raws(hub) == ["TRY-1", REFUSED, "INS-2"]


def test_a_replay_of_scans_the_agent_has_since_resent_stores_nothing_twice(
    hub: HubUnderTest,
) -> None:
    """The agent's resend got through after the fix; the replay finds the same three scans
    already stored and says so."""
    station = ScriptedStation("pi-tray", "tray_assembly")
    _refuse(hub.engine, REFUSED)
    scans = station.scan("TRY-1", REFUSED, "INS-2")
    hub.deliver(scans)
    _fix(hub.engine)
    hub.deliver(scans)
    answer = _admin(hub).request("POST", f"/api/v1/dead-letters/{_letters(hub)[0].id}/replay")
    assert answer.json()["stored"] == 0 and answer.json()["duplicates"] == 3
    assert _raws(hub) == ["TRY-1", REFUSED, "INS-2"]


def test_a_fault_not_yet_fixed_is_a_409_and_the_letter_stays_replayable(
    hub: HubUnderTest,
) -> None:
    """While the database still refuses the scan, the replay is a 409 still_refused, nothing
    is stored, and the letter is not marked; after the fix the same replay works."""
    _refuse(hub.engine, REFUSED)
    hub.deliver(ScriptedStation("pi-tray", "tray_assembly").scan(REFUSED))
    letter_id = _letters(hub)[0].id
    admin = _admin(hub)
    refused = admin.request("POST", f"/api/v1/dead-letters/{letter_id}/replay")
    assert refused.status_code == 409
    assert refused.json()["error"]["details"] == {"reason": "still_refused"}
    assert _letters(hub)[0].replayed_at is None and _raws(hub) == []
    _fix(hub.engine)
    assert admin.request("POST", f"/api/v1/dead-letters/{letter_id}/replay").status_code == 200


@pytest.mark.parametrize(
    ("topic", "payload", "payload_bytes", "reason"),
    [
        ("scantrail/v1/agents/pi-1/scans", '{"agent_id": "pi-1"', 19, "still_refused"),
        (
            "scantrail/v1/agents/pi-1/scans",
            '{"agent_id": "pi-1", ',
            70_000,
            "payload_not_kept_whole",
        ),
        (
            "scantrail/v1/agents/pi-1/status",
            '{"v": 1, "agent_id": "pi-1", "state": "online", "version": "1", '
            '"station": "s", "mode": "tray_assembly"}',
            None,
            "not_a_scan_batch",
        ),
    ],
)
def test_a_letter_that_cannot_be_replayed_is_a_409_naming_why(
    hub: HubUnderTest, topic: str, payload: str, payload_bytes: int | None, reason: str
) -> None:
    """Malformed JSON is still refused; a payload kept only in part is no longer what was
    sent; a status message is not a scan batch. Each is a 409 with its reason."""
    with hub.engine.begin() as conn:
        conn.execute(
            dead_letters.insert().values(
                received_at=datetime.now(UTC),
                topic=topic,
                agent_id="pi-1",
                reason="internal_error",
                detail="a fault",
                payload=payload,
                payload_bytes=payload_bytes or len(payload.encode()),
            )
        )
    answer = _admin(hub).request("POST", f"/api/v1/dead-letters/{_letters(hub)[0].id}/replay")
    assert answer.status_code == 409, answer.text
    assert answer.json()["error"]["details"] == {"reason": reason}


def test_replaying_a_letter_that_does_not_exist_is_a_404(hub: HubUnderTest) -> None:
    """No letter 99: 404 with the error body."""
    answer = _admin(hub).request("POST", "/api/v1/dead-letters/99/replay")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"


def test_an_app_without_ingest_answers_a_replay_with_503(hub: HubUnderTest) -> None:
    """The CLI's app has no ingest to replay through: 503 unavailable, not a 500."""
    admin = Client(create_app(hub.engine), make_token(hub.engine, Role.ADMIN))
    answer = admin.request("POST", "/api/v1/dead-letters/1/replay")
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "unavailable"
