"""The five record scenarios through the real path: agents → mosquitto → hub → API."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.harness import mqtt_client
from tests.harness.mosquitto import Mosquitto
from tests.harness.processes import AgentProcess, HubProcess
from tests.harness.shift import REFERENCE as SHIFT_REFERENCE
from tests.harness.shift import SHIFT
from tests.harness.stations import ScriptedStation, message
from tests.harness.waiting import wait_for

pytestmark = pytest.mark.integration

REFERENCE: dict[str, list[dict[str, Any]]] = {
    "instruments": [{"code": f"INS-{i}", "name": f"Instrument {i}"} for i in range(1, 10)],
    "trays": [
        {"code": "TRY-MAJOR", "name": "Major set", "recipe": {f"INS-{i}": 1 for i in range(3, 8)}}
    ],
    "sterilizers": [{"code": "STE-A1", "name": "Autoclave A1", "cycle_types": ["prevac"]}],
    "locations": [
        {"code": "LOC-ICU1", "name": "ICU bay 1", "level": "bay"},
        {"code": "LOC-WARD4", "name": "Ward 4", "level": "department"},
    ],
    "assets": [{"code": c} for c in ("AST-V12", "AST-P1", "AST-P2", "AST-W3")],
    "cases": [{"code": "CASE-88", "room": "LOC-OR3", "procedure": "hip"}],
}


def _scan_all(agent: AgentProcess, *texts: str) -> None:
    for text in texts:
        answer = agent.scan(text)
        assert answer["kept"], (text, answer)


def _wait_projected(hub: HubProcess, agents: dict[str, AgentProcess]) -> None:
    """Until the hub has projected every scan these agents have taken."""

    def projected() -> None:
        streams = {a["agent_id"]: a for a in hub.get("/api/v1/agents")["items"]}
        for name, agent in agents.items():
            seq = streams.get(name, {}).get("projected_seq")
            assert seq == agent.status()["last_seq"], name

    wait_for(projected, timeout=60, interval=0.5)


def test_five_scenarios_become_records(
    tmp_path: Path, broker: Mosquitto, database_url: str
) -> None:
    """Sterilizer pass then BI fail with its recall, a tray 2 short, a quarantined
    instrument in the OR, a porter's 3 assets with a day-late move, and a walker's loan all
    become the right records; rebuild changes nothing and the audit chain verifies."""
    hub = HubProcess(tmp_path / "hub", database_url, broker.port)
    for kind, rows in REFERENCE.items():
        path = tmp_path / f"{kind}.json"
        path.write_text(json.dumps(rows))
        done = hub.cli("import", kind, str(path))
        assert done.returncode == 0, done.stderr
    hub.start()
    modes = {
        "pi-spd": "sterilizer",
        "pi-tray": "tray_assembly",
        "pi-or": "point_of_use",
        "pi-porter": "asset_move",
        "pi-ward": "equipment_checkout",
    }
    agents = {
        name: AgentProcess(tmp_path / name, name, broker.port, mode=mode)
        for name, mode in modes.items()
    }
    try:
        for agent in agents.values():
            agent.start()
        _scan_all(agents["pi-spd"], "STE-A1", "STE-A1.1142", "INS-1", "INS-2", "CMD-CYCLE-PASS")
        _scan_all(agents["pi-spd"], "STE-A1", "STE-A1.1143", "INS-9", "CMD-CYCLE-FAIL")
        _scan_all(agents["pi-tray"], "TRY-MAJOR", "INS-3", "INS-4", "INS-5", "CMD-COMPLETE")
        # The OR's use must not overtake the failed load on its way to the hub: alerts are
        # history, raised with what the hub knows when the use is projected.
        _wait_projected(hub, {"pi-spd": agents["pi-spd"]})
        _scan_all(agents["pi-or"], "CASE-88", "INS-1", "INS-9")
        _scan_all(agents["pi-porter"], "AST-V12", "AST-P1", "AST-P2", "LOC-ICU1")
        _scan_all(agents["pi-ward"], "PAT-1001", "AST-W3", "CMD-DONE", "AST-W3")
        _scan_all(agents["pi-ward"], "CMD-CLEANED", "AST-W3")
        _scan_all(agents["pi-spd"], "STE-A1.1142", "CMD-BI-FAIL")
        # A porter Pi that was offline for a day: its move of the ventilator is a day old.
        late = ScriptedStation(
            "pi-porter-late", "asset_move", datetime.now(UTC) - timedelta(days=1)
        )
        stale = late.scan("AST-V12", "LOC-WARD4")
        topic = "scantrail/v1/agents/pi-porter-late/scans"
        mqtt_client.publish(broker.port, topic, message(stale).payload)

        def everything_applied() -> None:
            streams = {a["agent_id"]: a for a in hub.get("/api/v1/agents")["items"]}
            for name, agent in agents.items():
                seq = streams.get(name, {}).get("projected_seq")
                assert seq == agent.status()["last_seq"], name
            # Not there yet is a wait, not a failure: a KeyError would end wait_for at once.
            assert streams.get("pi-porter-late", {}).get("projected_seq") == 2, streams.keys()

        wait_for(everything_applied, timeout=60, interval=0.5)

        # Sterilizer: load 1142 passed, then its BI failed: quarantined, with a recall.
        cycles = {c["cycle_number"]: c for c in hub.records("cycles")}
        assert (cycles["1142"]["result"], cycles["1142"]["bi_result"]) == ("pass", "fail")
        assert cycles["1142"]["status"] == "quarantined"
        assert cycles["1143"]["status"] == "failed"
        recall = hub.get("/api/v1/recalls/site:STE-A1.1142")
        assert [load["cycle_number"] for load in recall["loads"]] == ["1142", "1143"]
        assert [i["item"] for i in recall["items"]] == ["site:INS-1", "site:INS-2", "site:INS-9"]
        assert {(c["case"], c["item"]) for c in recall["cases"]} == {
            ("site:CASE-88", "site:INS-1"),
            ("site:CASE-88", "site:INS-9"),
        }
        assert hub.alerts("bi_failed")[0]["severity"] == "high"
        # Tray: 5 on the count sheet, 3 scanned.
        (checklist,) = hub.records("tray-checklists")
        assert checklist["status"] == "short"
        assert json.loads(checklist["missing"]) == {"site:INS-6": 1, "site:INS-7": 1}
        # OR: INS-9 came from the failed load 1143. INS-1 alerts too when the failed BI of
        # its load reached the hub before its use did (docs/records.md: alerts are history).
        unsafe = {a["detail"].split()[0]: a for a in hub.alerts("unsafe_use")}
        assert unsafe["site:INS-9"]["severity"] == "high"
        assert set(unsafe) <= {"site:INS-9", "site:INS-1"}
        # Porter: the day-old move fills history; the ventilator stays in the ICU.
        assets = {a["key"]: a for a in hub.records("assets")}
        assert assets["site:AST-V12"]["location"] == "site:LOC-ICU1"
        history = hub.records("assignments", key="site:AST-V12")
        assert [h["location"] for h in sorted(history, key=lambda h: h["started_at"])] == [
            "site:LOC-WARD4",
            "site:LOC-ICU1",
        ]
        assert {assets[k]["location"] for k in ("site:AST-P1", "site:AST-P2")} == {"site:LOC-ICU1"}
        # Loan: lent, returned, cleaned.
        (loan,) = hub.records("equipment-logs")
        assert (loan["patient"], loan["status"]) == ("site:PAT-1001", "available")
        assert assets["site:AST-W3"]["status"] == "available"
    finally:
        for agent in agents.values():
            agent.stop()
        hub.stop()
    rebuilt = hub.cli("rebuild")
    assert rebuilt.returncode == 0 and " 0 differed" in rebuilt.stdout, rebuilt.stdout
    assert all(line.endswith(" 0 differed") for line in rebuilt.stdout.splitlines())
    verified = hub.cli("audit", "verify")
    assert verified.returncode == 0, verified.stderr


def test_a_clean_shift_at_every_mode_raises_no_alert(
    tmp_path: Path, broker: Mosquitto, database_url: str
) -> None:
    """A clean shift at all five station modes, through the real agents, broker and hub,
    becomes records and raises no alert about the records. (This machine's clock may not be
    NTP-synced, which the hub rightly flags: that alert is about the Pi, not the shift.)"""
    hub = HubProcess(tmp_path / "hub", database_url, broker.port)
    for kind, rows in SHIFT_REFERENCE.items():
        path = tmp_path / f"{kind}.json"
        path.write_text(json.dumps(rows))
        done = hub.cli("import", kind, str(path))
        assert done.returncode == 0, done.stderr
    hub.start()
    agents = {
        name: AgentProcess(tmp_path / name, name, broker.port, mode=mode, allow_mode_change=True)
        for name, mode, _ in SHIFT
    }
    try:
        for agent in agents.values():
            agent.start()
        for name, _, texts in SHIFT:
            _scan_all(agents[name], *texts)
        _wait_projected(hub, agents)
        cycles = hub.records("cycles")
        assert sorted(c["status"] for c in cycles) == ["cancelled", "released", "released"]
        (checklist,) = hub.records("tray-checklists")
        assert checklist["status"] == "complete"
        alerts = hub.get("/api/v1/alerts", limit=1000)["items"]
        assert [a for a in alerts if a["kind"] != "clock_unsynced"] == []
    finally:
        for agent in agents.values():
            agent.stop()
        hub.stop()


def test_an_instrument_from_a_tray_in_a_failed_load_used_alone_raises_a_high_alert(
    tmp_path: Path, broker: Mosquitto, database_url: str
) -> None:
    """INS-3 is assembled into TRY-MAJOR, the tray goes into a load that fails, and INS-3
    scanned on its own at the OR raises a high unsafe_use alert naming that load."""
    hub = HubProcess(tmp_path / "hub", database_url, broker.port)
    hub.start()
    stations = {"pi-tray": "tray_assembly", "pi-spd": "sterilizer", "pi-or": "point_of_use"}
    agents = {
        name: AgentProcess(tmp_path / name, name, broker.port, mode=mode)
        for name, mode in stations.items()
    }
    try:
        for agent in agents.values():
            agent.start()
        _scan_all(agents["pi-tray"], "TRY-MAJOR", "INS-3", "INS-4", "CMD-COMPLETE")
        _scan_all(agents["pi-spd"], "STE-A1", "STE-A1.501", "TRY-MAJOR", "CMD-CYCLE-FAIL")
        # The OR's scan must not overtake the load's outcome on its way to the hub.
        _wait_projected(hub, {name: agents[name] for name in ("pi-tray", "pi-spd")})
        _scan_all(agents["pi-or"], "CASE-88", "INS-3")

        def alerted() -> list[dict[str, Any]]:
            found = hub.alerts("unsafe_use")
            assert found
            return found

        (alert,) = wait_for(alerted, timeout=60, interval=0.5)
        (load,) = hub.records("cycles")
        assert alert["severity"] == "high"
        assert "site:INS-3" in alert["detail"] and load["session_id"] in alert["detail"]
        items = {i["key"]: i["status"] for i in hub.records("items")}
        assert items["site:INS-4"] == "quarantined" and items["site:INS-3"] == "in_use"
    finally:
        for agent in agents.values():
            agent.stop()
        hub.stop()


def test_a_site_label_prefix_is_read_the_same_at_the_station_and_the_hub(
    tmp_path: Path, broker: Mosquitto, database_url: str
) -> None:
    """With the same [decode] section in the agent's and the hub's config, a tray labelled
    TRAY-7 opens a checklist at the bench and is filed at the hub as that registered tray."""
    site = {"decode.patterns": {"tray": "TRAY-[0-9]+"}}
    hub = HubProcess(tmp_path / "hub", database_url, broker.port, extra=site)
    trays = tmp_path / "trays.json"
    trays.write_text(json.dumps([{"code": "TRAY-7", "name": "Minor set", "recipe": {"INS-1": 1}}]))
    done = hub.cli("import", "trays", str(trays))
    assert done.returncode == 0, done.stderr
    hub.start()
    bench = AgentProcess(
        tmp_path / "bench", "pi-tray", broker.port, mode="tray_assembly", extra=site
    )
    try:
        bench.start()
        opened = bench.scan("TRAY-7")
        assert opened["kept"] and opened["kind"] == "tray", opened
        _scan_all(bench, "INS-1", "CMD-COMPLETE")
        _wait_projected(hub, {"pi-tray": bench})
        (checklist,) = hub.records("tray-checklists")
        assert (checklist["tray"], checklist["status"]) == ("site:TRAY-7", "complete")
        (tray,) = [i for i in hub.records("items") if i["kind"] == "tray"]
        assert (tray["key"], tray["registered"]) == ("site:TRAY-7", True)
        unregistered = [a["detail"] for a in hub.alerts("unregistered_code")]
        assert unregistered == ["instrument site:INS-1 is not registered"]
    finally:
        bench.stop()
        hub.stop()


def test_an_implant_load_stays_quarantined_until_its_indicator_passes(
    tmp_path: Path, broker: Mosquitto, database_url: str
) -> None:
    """A passed load holding a catalogued implant stays quarantined, the implant with it,
    until the BI scanned at the sterilizer passes; then it is released and sterile."""
    hub = HubProcess(tmp_path / "hub", database_url, broker.port)
    catalogue = tmp_path / "instruments.json"
    catalogue.write_text(json.dumps([{"code": "INS-1", "name": "Hip stem", "implant": True}]))
    done = hub.cli("import", "instruments", str(catalogue))
    assert done.returncode == 0, done.stderr
    hub.start()
    spd = AgentProcess(tmp_path / "spd", "pi-spd", broker.port, mode="sterilizer")
    try:
        spd.start()
        _scan_all(spd, "STE-A1", "STE-A1.601", "INS-1", "INS-2", "CMD-CYCLE-PASS")
        _wait_projected(hub, {"pi-spd": spd})
        (load,) = hub.records("cycles")
        assert (load["status"], load["implant"]) == ("quarantined", True)
        assert {i["status"] for i in hub.records("items")} == {"quarantined"}
        _scan_all(spd, "STE-A1.601", "CMD-BI-PASS")
        _wait_projected(hub, {"pi-spd": spd})
        (load,) = hub.records("cycles")
        assert (load["status"], load["bi_result"]) == ("released", "pass")
        assert {i["status"] for i in hub.records("items")} == {"sterile"}
    finally:
        spd.stop()
        hub.stop()


def test_an_asset_inspection_falls_overdue(
    tmp_path: Path, broker: Mosquitto, database_url: str
) -> None:
    """Pumps inspected every 30 days: one inspected now at a real station is not due; one
    whose inspection 40 days ago arrives from a Pi that was offline since falls overdue,
    and the hub alerts at its next timed check (every 2 s here; 30 s by default)."""
    hub = HubProcess(
        tmp_path / "hub", database_url, broker.port, extra={"ingest": {"checks_every_s": 2}}
    )
    assets = tmp_path / "assets.json"
    assets.write_text(
        json.dumps([{"code": c, "inspection_interval_days": 30} for c in ("AST-P1", "AST-P2")])
    )
    done = hub.cli("import", "assets", str(assets))
    assert done.returncode == 0, done.stderr
    hub.start()
    biomed = AgentProcess(tmp_path / "biomed", "pi-biomed", broker.port, mode="asset_move")
    try:
        biomed.start()
        _scan_all(biomed, "CMD-INSPECT-PASS", "AST-P1")
        offline = ScriptedStation(
            "pi-biomed-2", "asset_move", datetime.now(UTC) - timedelta(days=40)
        )
        old = offline.scan("CMD-INSPECT-PASS", "AST-P2")
        mqtt_client.publish(
            broker.port, "scantrail/v1/agents/pi-biomed-2/scans", message(old).payload
        )

        def overdue() -> list[dict[str, Any]]:
            found = hub.alerts("inspection_overdue")
            assert found
            return found

        (alert,) = wait_for(overdue, timeout=120, interval=1)
        assert "site:AST-P2" in alert["detail"]
        pumps = {a["key"]: a for a in hub.records("assets")}
        assert pumps["site:AST-P1"]["inspection_result"] == "pass"
        due = datetime.fromisoformat(pumps["site:AST-P1"]["inspection_due"])
        assert due.replace(tzinfo=due.tzinfo or UTC) > datetime.now(UTC)  # SQLite: naive UTC
    finally:
        biomed.stop()
        hub.stop()
