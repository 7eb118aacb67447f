"""The reference snapshot stations pull: what it holds, its ETag and 304, and the hub's
answer to a use a station blocked with it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from agent.catalog import Catalog
from hub import refdata
from hub.access.roles import Role
from hub.store.records import usage_logs
from hub.store.tables import alerts
from hub.web.app import create_app
from hub.web.snapshot import SnapshotCache
from protocol.reference import ReferenceSnapshot
from protocol.vocabulary import Outcome
from tests.harness.api import Client
from tests.harness.stations import HubUnderTest, ScriptedStation


@pytest.fixture
def hub(database_url: str, tmp_path: Path) -> Iterator[HubUnderTest]:
    hub = HubUnderTest(database_url)
    for kind, rows in {
        "instruments": [
            {"code": "INS-1", "name": "Mayo scissors", "category": "scissors"},
            {"code": "INS-3", "name": "Retractor"},
            {"code": "INS-9", "name": "Needle holder"},
        ],
        "trays": [{"code": "TRY-7", "name": "Basic set", "recipe": {"INS-1": 1}}],
        "staff": [{"code": "USR-ANA", "name": "Ana Ruiz", "role": "SPD tech"}],
    }.items():
        path = tmp_path / f"{kind}.json"
        path.write_text(json.dumps(rows))
        refdata.load(hub.engine, kind, path)
    yield hub
    hub.engine.dispose()


def _floor(hub: HubUnderTest) -> None:
    """INS-9 goes through a failed load; INS-3 is on tray TRY-8, still open."""
    ste = ScriptedStation("pi-ste", "sterilizer")
    bench = ScriptedStation("pi-bench", "tray_assembly")
    hub.deliver(
        ste.scan("STE-A1", "STE-A1.5", "INS-9", "CMD-CYCLE-FAIL"), bench.scan("TRY-8", "INS-3")
    )


def test_the_snapshot_holds_the_catalogue_what_is_blocked_and_what_is_on_open_trays(
    hub: HubUnderTest,
) -> None:
    """An agent token reads instruments, the count sheet, INS-9 blocked by its failed load,
    INS-3 on open tray TRY-8, staff and the site's rules; asked again with the ETag: 304."""
    app = create_app(hub.engine)
    _floor(hub)
    station = Client.as_role(app, hub.engine, Role.AGENT)
    response = station.get("/api/v1/reference")
    assert response.status_code == 200 and response.headers["cache-control"] == "no-cache"
    snapshot = ReferenceSnapshot.model_validate_json(response.text)
    assert {i.key for i in snapshot.instruments} == {"site:INS-1", "site:INS-3", "site:INS-9"}
    assert snapshot.trays[0].recipe == {"site:INS-1": 1}
    ((blocked_key, reason),) = [(b.key, b.reason) for b in snapshot.blocked]
    assert blocked_key == "site:INS-9" and "A1.5 failed" in reason
    assert snapshot.open_trays == {"site:INS-3": "site:TRY-8"}
    assert [s.name for s in snapshot.staff] == ["Ana Ruiz"] and snapshot.rules is not None
    etag = response.headers["etag"]
    again = station.get("/api/v1/reference", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.headers["etag"] == etag and again.content == b""


def test_a_use_the_station_blocked_is_alerted_and_changes_no_record(hub: HubUnderTest) -> None:
    """A point-of-use station holding the hub's snapshot blocks INS-9: the hub stores the
    attempt, raises one high blocked_use alert naming it, and logs no use; INS-1 is used."""
    app = create_app(hub.engine)
    _floor(hub)
    body = Client.as_role(app, hub.engine, Role.AGENT).get("/api/v1/reference").text
    orr = ScriptedStation("pi-or", "point_of_use")
    orr.catalog = Catalog(ReferenceSnapshot.model_validate_json(body))
    events = orr.scan("CASE-1", "INS-9", "INS-1")
    assert [e.decoded.outcome for e in events if e.decoded] == ["kept", Outcome.BLOCKED, "kept"]
    hub.deliver(events)
    with hub.engine.connect() as conn:
        found = conn.execute(sa.select(alerts).where(alerts.c.kind == "blocked_use")).all()
        used = conn.execute(sa.select(usage_logs.c.item)).scalars().all()
    ((alert),) = found
    assert alert.severity == "high" and "site:INS-9" in alert.detail and "pi-or" in alert.detail
    assert used == ["site:INS-1"]


def test_the_cache_builds_once_per_max_age_and_keeps_the_tag_of_unchanged_contents() -> None:
    """Within max_age the snapshot is served from memory; a rebuild with the same contents
    keeps its ETag and first build time; changed contents get a new ETag."""
    builds: list[int] = []
    contents: dict[str, Any] = {"instruments": ()}

    def build() -> ReferenceSnapshot:
        builds.append(1)
        return ReferenceSnapshot(built_at=datetime.now(UTC), **contents)

    cached = SnapshotCache(build, max_age_s=3600)
    first = cached.current()
    assert cached.current() is first and len(builds) == 1
    rebuilt = SnapshotCache(build, max_age_s=0)
    one = rebuilt.current()
    assert rebuilt.current() == one  # same contents: same tag, same body (first built_at)
    contents["instruments"] = ({"key": "site:INS-1", "name": "Mayo"},)
    assert rebuilt.current().etag != one.etag
