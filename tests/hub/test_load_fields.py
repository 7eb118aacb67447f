"""A load's fields entered through the API where no command barcode is used: they reach
the load's record through the scan log, a rebuild derives the same record, the history
names who entered them, and what cannot be entered is refused with a reason."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from hub import refdata
from hub.access.roles import Role
from hub.reconcile.rebuild import rebuild
from hub.store import records
from tests.harness.api import Client, ingesting_client
from tests.harness.stations import HubUnderTest, ScriptedStation

FIELDS = "/api/v1/loads/STE-A1.5/fields"


def _tech(hub: HubUnderTest) -> Client:
    return ingesting_client(hub.engine, Role.TECH, name="ana")


def _load(hub: HubUnderTest) -> Any:
    with hub.engine.connect() as conn:
        return conn.execute(sa.select(records.cycles)).one()


def test_fields_entered_after_a_load_closed_are_on_its_record_and_survive_a_rebuild(
    hub: HubUnderTest,
) -> None:
    """A load closed with no fields scanned gets its type, exposure, temperature, chemical
    indicator and releaser from one entry; the history shows each with station api:ana;
    a rebuild from the scan log derives the same record."""
    ste = ScriptedStation("pi-ste", "sterilizer")
    hub.deliver(ste.scan("USR-ANA", "STE-A1", "STE-A1.5", "INS-1", "CMD-CYCLE-PASS"))
    tech = _tech(hub)
    body = {
        "cycle_type": "prevac",
        "exposure_min": 4,
        "temperature_c": 134.5,
        "ci_result": "pass",
        "releaser": "USR-BEN",
    }
    answer = tech.request("POST", FIELDS, json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["seqs"] == [1, 2, 3, 4, 5]
    hub.project_all()
    load = _load(hub)
    assert (load.cycle_type, load.exposure_min, load.temperature_c, load.ci_result) == (
        "prevac",
        "4",
        "134.5",
        "pass",
    )
    assert (load.operator, load.released_by, load.status) == (
        "site:USR-ANA",
        "site:USR-BEN",
        "released",
    )
    history = tech.get(f"/api/v1/history/{load.session_id}").json()["items"]
    entered = [h for h in history if h["agent_id"] == "hub"]
    assert {(h["station"], h["actor"]) for h in entered} == {("api", "token:ana")}
    assert [h["raw"] for h in entered][:4] == [
        "CMD-TYPE-PREVAC",
        "CMD-EXPOSURE-4",
        "CMD-TEMP-134.5",
        "CMD-CI-PASS",
    ]
    assert rebuild(hub.engine)["cycles"].differ == 0


def test_a_second_entry_takes_the_next_seqs_and_the_newer_value_wins(hub: HubUnderTest) -> None:
    """Two entries of the exposure: seqs 1 then 2; the record holds the second."""
    hub.deliver(ScriptedStation("pi-ste", "sterilizer").scan("STE-A1", "STE-A1.5"))
    tech = _tech(hub)
    assert tech.request("POST", FIELDS, json={"exposure_min": 3}).json()["seqs"] == [1]
    assert tech.request("POST", FIELDS, json={"exposure_min": 4}).json()["seqs"] == [2]
    hub.project_all()
    assert _load(hub).exposure_min == "4"


@pytest.mark.parametrize(
    ("scans", "label", "body", "status"),
    [
        (("STE-A1", "STE-A1.5", "CMD-CANCEL"), "STE-A1.5", {"exposure_min": 4}, 409),
        (("STE-A1", "STE-A1.5"), "STE-A1.9", {"exposure_min": 4}, 404),
        (("STE-A1", "STE-A1.5"), "STE-A1.5", {}, 422),
        (("STE-A1", "STE-A1.5"), "STE-A1.5", {"releaser": "INS-1"}, 422),
        (("STE-A1", "STE-A1.5"), "STE-A1.5", {"exposure_min": -1}, 422),
        (("STE-A1", "STE-A1.5"), "STE-A1.5", {"operator": "USR-ANA"}, 422),
    ],
)
def test_an_entry_that_cannot_be_made_is_refused_and_nothing_is_logged(
    hub: HubUnderTest, scans: tuple[str, ...], label: str, body: dict[str, Any], status: int
) -> None:
    """A cancelled load (409), an unknown label (404), no field, a releaser that is not a
    badge, a negative exposure or an unknown field (422): each refused, no scan logged."""
    hub.deliver(ScriptedStation("pi-ste", "sterilizer").scan(*scans))
    answer = _tech(hub).request("POST", f"/api/v1/loads/{label}/fields", json=body)
    assert answer.status_code == status, answer.text
    assert "error" in answer.json()
    with hub.engine.connect() as conn:
        logged = conn.execute(
            sa.select(sa.func.count())
            .where(sa.text("agent_id = 'hub'"))
            .select_from(sa.table("scan_log"))
        ).scalar()
    assert logged == 0


def test_a_load_is_read_with_its_fields_and_contents_through_its_trays(hub: HubUnderTest) -> None:
    """GET /api/v1/loads/STE-A1.5: the record's ST79 fields and operator, and its contents:
    the tray and the loose instrument added, then the tray's two instruments via the tray."""
    bench = ScriptedStation("pi-tray", "tray_assembly")
    bench.scan("TRY-7", "INS-1", "INS-2", "CMD-COMPLETE")
    ste = ScriptedStation("pi-ste", "sterilizer", bench.at + timedelta(minutes=5))
    ste.scan("USR-ANA", "STE-A1", "STE-A1.5", "CMD-EXPOSURE-4", "TRY-7", "INS-9", "CMD-CYCLE-PASS")
    hub.deliver(bench.events, ste.events)
    answer = _tech(hub).get("/api/v1/loads/STE-A1.5")
    assert answer.status_code == 200, answer.text
    load = answer.json()
    assert (load["exposure_min"], load["operator"], load["status"]) == (
        "4",
        "site:USR-ANA",
        "released",
    )
    assert [(c["item"], c["via_tray"]) for c in load["contents"]] == [
        ("site:TRY-7", None),
        ("site:INS-1", "site:TRY-7"),
        ("site:INS-2", "site:TRY-7"),
        ("site:INS-9", None),
    ]
    assert _tech(hub).get("/api/v1/loads/STE-A1.404").status_code == 404


def test_an_implant_load_released_early_with_a_reason_is_released_and_rebuilt_so(
    hub: HubUnderTest, tmp_path: Path
) -> None:
    """An implant load that passed waits quarantined for its BI; an early release entered
    with a reason releases it and makes its instruments sterile; the reason is on the
    record and in the load's history, and a rebuild derives the same."""
    catalogue = tmp_path / "instruments.json"
    catalogue.write_text('[{"code": "INS-1", "name": "Plate", "implant": true}]')
    refdata.load(hub.engine, "instruments", catalogue)
    ste = ScriptedStation("pi-ste", "sterilizer")
    hub.deliver(ste.scan("STE-A1", "STE-A1.5", "INS-1", "CMD-CYCLE-PASS"))
    assert _load(hub).status == "quarantined"
    reason = "trauma case, surgeon on call; BI read at 24 h"
    answer = _tech(hub).request("POST", FIELDS, json={"early_release_reason": reason})
    assert answer.status_code == 200, answer.text
    hub.project_all()
    load = _load(hub)
    assert (load.status, load.early_release_reason) == ("released", reason)
    with hub.engine.connect() as conn:
        status = conn.execute(
            sa.select(records.items.c.status).where(records.items.c.key == "site:INS-1")
        ).scalar()
    assert status == "sterile"
    history = _tech(hub).get(f"/api/v1/history/{load.session_id}").json()["items"]
    assert any(h["raw"] == "CMD-EARLY-RELEASE" and h["actor"] == "token:ana" for h in history)
    kinds = {a["kind"] for a in _tech(hub).get("/api/v1/alerts").json()["items"]}
    assert "impossible_sequence" not in kinds and "unknown_action" not in kinds
    assert rebuild(hub.engine)["cycles"].differ == 0
