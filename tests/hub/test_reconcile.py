"""Reconcile through the hub's real ingest transaction, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from hub import refdata
from hub.domain import rules
from hub.domain.changes import Change
from hub.domain.facts import DEFAULT_POLICY, Policy, Scan, View, utc
from hub.reconcile import projector
from hub.reconcile.rebuild import rebuild, snapshot
from hub.store import audit_chain, records
from hub.store.recall import recall_set
from hub.store.tables import agent_streams, alerts
from protocol.messages import ScanEvent
from tests.harness.stations import HubUnderTest, ScriptedStation


def _rows(hub: HubUnderTest, table: sa.Table, **where: Any) -> list[Any]:
    query = sa.select(table)
    for column, value in where.items():
        query = query.where(table.c[column] == value)
    with hub.engine.connect() as conn:
        return list(conn.execute(query).all())


def _alerts(hub: HubUnderTest, kind: str) -> list[str]:
    return [a.detail for a in _rows(hub, alerts, kind=kind)]


def _import(hub: HubUnderTest, tmp_path: Path, kind: str, rows: list[dict[str, Any]]) -> None:
    path = tmp_path / f"{kind}.json"
    path.write_text(json.dumps(rows))
    refdata.load(hub.engine, kind, path)


def test_a_load_passes_then_its_indicator_fails_and_the_recall_reaches_the_or(
    hub: HubUnderTest,
) -> None:
    """A passed load is released and its instruments sterile; a failed BI scanned a day
    later quarantines them, alerts, and the recall names the load, the items and the case."""
    spd = ScriptedStation("pi-ste", "sterilizer")
    orr = ScriptedStation("pi-or", "point_of_use")
    spd.scan("STE-A1", "STE-A1.1142", "CMD-TYPE-PREVAC", "INS-1", "INS-2", "CMD-CYCLE-PASS")
    hub.deliver(spd.events)
    (cycle,) = _rows(hub, records.cycles)
    assert (cycle.status, cycle.cycle_number, cycle.cycle_type, cycle.item_count) == (
        "released",
        "1142",
        "prevac",
        2,
    )
    assert {i.status for i in _rows(hub, records.items)} == {"sterile"}
    orr.at = spd.at + timedelta(hours=2)
    hub.deliver(orr.scan("CASE-88", "INS-1"))
    spd.at += timedelta(days=1)
    hub.deliver(spd.scan("STE-A1.1142", "CMD-BI-FAIL"))
    (cycle,) = _rows(hub, records.cycles)
    assert (cycle.status, cycle.bi_result) == ("quarantined", "fail")
    assert {i.key: i.status for i in _rows(hub, records.items)} == {
        "site:INS-1": "quarantined",
        "site:INS-2": "quarantined",
    }
    assert _alerts(hub, "bi_failed")
    with hub.engine.connect() as conn:
        recall = recall_set(conn, "site:STE-A1.1142")
    assert recall is not None
    assert [load["cycle_number"] for load in recall["loads"]] == ["1142"]
    assert [i["item"] for i in recall["items"]] == ["site:INS-1", "site:INS-2"]
    assert [(c["case"], c["item"]) for c in recall["cases"]] == [("site:CASE-88", "site:INS-1")]


def test_a_tray_assembled_two_short_is_flagged_with_what_is_missing(
    hub: HubUnderTest, tmp_path: Path
) -> None:
    """A tray whose count sheet needs 5 items, closed with 3, is short by exactly the 2."""
    _import(
        hub,
        tmp_path,
        "instruments",
        [{"code": f"INS-{i}", "name": f"Forceps {i}", "category": "forceps"} for i in range(1, 6)],
    )
    _import(
        hub,
        tmp_path,
        "trays",
        [
            {
                "code": "TRY-MAJOR",
                "name": "Major set",
                "recipe": {"INS-1": 1, "INS-2": 1, "forceps": 3},
            }
        ],
    )
    bench = ScriptedStation("pi-tray", "tray_assembly")
    hub.deliver(bench.scan("TRY-MAJOR", "INS-1", "INS-3", "INS-4", "CMD-COMPLETE"))
    (checklist,) = _rows(hub, records.tray_checklists)
    assert (checklist.status, checklist.count) == ("short", 3)
    assert json.loads(checklist.missing) == {"forceps": 1, "site:INS-2": 1}
    assert json.loads(checklist.extra) == []
    assert _alerts(hub, "tray_short")


def test_a_quarantined_instrument_scanned_in_the_or_raises_a_high_alert(hub: HubUnderTest) -> None:
    """An instrument from a failed load used in a case gives a high-severity alert."""
    spd = ScriptedStation("pi-ste", "sterilizer")
    orr = ScriptedStation("pi-or", "point_of_use")
    hub.deliver(spd.scan("STE-B2", "INS-9", "CMD-CYCLE-FAIL"))
    orr.at = spd.at + timedelta(hours=1)
    hub.deliver(orr.scan("CASE-90", "INS-9"))
    (alert,) = _rows(hub, alerts, kind="unsafe_use")
    assert alert.severity == "high" and "site:INS-9" in alert.detail and "failed" in alert.detail
    (usage,) = _rows(hub, records.usage_logs)
    assert (usage.case_ref, usage.item, usage.returned_at) == ("site:CASE-90", "site:INS-9", None)


def test_a_porter_scan_a_day_late_fills_history_and_never_moves_the_asset_back(
    hub: HubUnderTest,
) -> None:
    """Three assets moved twice; the first move of one arrives a day late: its assignment
    history is complete and its current location is still the newest."""
    porter = ScriptedStation("pi-porter", "asset_move")
    late = porter.scan("AST-V12", "AST-P1", "AST-P2", "LOC-WARD4")
    porter.at += timedelta(days=1)
    porter.scan("AST-V12", "AST-P1", "AST-P2", "LOC-OR3")
    other = ScriptedStation("pi-porter2", "asset_move", start=porter.at)
    hub.deliver(other.scan("AST-V12", "LOC-ICU1"))
    hub.deliver(porter.events)  # the porter's Pi was offline: both its moves arrive last
    assert late[-1].scanned_at < other.events[-1].scanned_at
    locations = {a.key: a.location for a in _rows(hub, records.assets)}
    assert locations == {
        "site:AST-V12": "site:LOC-ICU1",
        "site:AST-P1": "site:LOC-OR3",
        "site:AST-P2": "site:LOC-OR3",
    }
    history = sorted(
        (a.started_at, a.location, a.ended_at is None)
        for a in _rows(hub, records.assignments, asset="site:AST-V12")
    )
    assert [(loc, open_) for _, loc, open_ in history] == [
        ("site:LOC-WARD4", False),
        ("site:LOC-OR3", False),
        ("site:LOC-ICU1", True),
    ]


def test_a_walker_lent_returned_and_cleaned_walks_the_equipment_states(hub: HubUnderTest) -> None:
    """available → on loan → returned (needs cleaning) → available, in one equipment log."""
    ward = ScriptedStation("pi-ward", "equipment_checkout")
    hub.deliver(ward.scan("PAT-1001", "AST-W3", "CMD-DONE"))
    (walker,) = _rows(hub, records.assets)
    assert (walker.status, walker.patient) == ("on_loan", "site:PAT-1001")
    hub.deliver(ward.scan("AST-W3"))
    assert _rows(hub, records.assets)[0].status == "needs_cleaning"
    hub.deliver(ward.scan("CMD-CLEANED", "AST-W3"))
    (log,) = _rows(hub, records.equipment_logs)
    assert (log.patient, log.status) == ("site:PAT-1001", "available")
    assert log.loaned_at < log.returned_at < log.cleaned_at
    assert _rows(hub, records.assets)[0].status == "available"


def _again(event: ScanEvent, seq: int, **changes: Any) -> ScanEvent:
    return event.model_copy(update={"seq": seq, "event_id": uuid.uuid4(), **changes})


def test_impossible_sequences_change_nothing_and_raise_an_alert(hub: HubUnderTest) -> None:
    """Items for a load never opened, a second completion, a return with no use, and a move
    closed with no location are each refused with an alert; the records stay right."""
    spd = ScriptedStation("pi-ste", "sterilizer")
    spd.scan("STE-A1", "INS-1", "CMD-CYCLE-PASS")
    hub.deliver(spd.events)
    # Replayed by a faulty or spoofing agent: an item and a second completion for a load
    # that is already closed.
    orphan = _again(spd.events[1], seq=4)
    twice = _again(spd.events[2], seq=5)
    hub.deliver([orphan, twice])
    (cycle,) = _rows(hub, records.cycles)
    assert (cycle.status, cycle.item_count) == ("released", 1)
    orr = ScriptedStation("pi-or", "point_of_use")
    hub.deliver(orr.scan("CASE-1", "CMD-RETURN", "INS-5"))
    (usage,) = _rows(hub, records.usage_logs)
    assert usage.used_at is None and usage.returned_at is not None
    porter = ScriptedStation("pi-porter", "asset_move")
    porter.scan("AST-1")
    context = porter.events[0].context.model_copy(update={"action": "close"})
    closed = _again(porter.events[0], seq=2, context=context)
    hub.deliver([porter.events[0], closed])
    assert _rows(hub, records.assignments) == []
    assert len(_alerts(hub, "impossible_sequence")) >= 3
    assert _alerts(hub, "return_without_use")


def test_unregistered_codes_are_recorded_flagged_and_alerted(
    hub: HubUnderTest, tmp_path: Path
) -> None:
    """A scanned instrument nobody imported is kept with registered = false and an alert;
    importing it later clears the flag."""
    bench = ScriptedStation("pi-tray", "tray_assembly")
    hub.deliver(bench.scan("TRY-X", "INS-404", "CMD-COMPLETE"))
    flags = {i.key: i.registered for i in _rows(hub, records.items)}
    assert flags == {"site:TRY-X": False, "site:INS-404": False}
    assert any("site:INS-404" in d for d in _alerts(hub, "unregistered_code"))
    _import(hub, tmp_path, "instruments", [{"code": "INS-404", "name": "Retractor"}])
    assert _rows(hub, records.items, key="site:INS-404")[0].registered is True


def test_rebuild_equals_live_and_the_audit_chain_verifies(hub: HubUnderTest) -> None:
    """Rebuilding from the scan log changes no record; the audit chain verifies, and an
    edited entry is caught."""
    spd = ScriptedStation("pi-ste", "sterilizer")
    ward = ScriptedStation("pi-ward", "equipment_checkout")
    hub.deliver(spd.scan("STE-A1", "STE-A1.7", "INS-1", "TRY-1", "CMD-CYCLE-PASS"))
    hub.deliver(ward.scan("PAT-1", "AST-W1", "CMD-RETURN", "AST-W1"))
    report = rebuild(hub.engine)
    assert all(line.differ == 0 for line in report.values()), report
    assert report["cycles"].live == 1 and report["items"].live == 2
    verdict = audit_chain.verify(hub.engine)
    assert verdict.ok and verdict.entries > 5
    with hub.engine.begin() as conn:
        conn.execute(
            records.audit_log.update().where(records.audit_log.c.id == 3).values(actor="mallory")
        )
    broken = audit_chain.verify(hub.engine)
    assert (broken.ok, broken.first_bad_id) == (False, 3)


def test_an_unregistered_sterilizer_or_location_raises_one_alert_however_often_scanned(
    hub: HubUnderTest,
) -> None:
    """Two loads on a sterilizer and three moves to a location nobody imported, each in a
    pass of its own: one alert for each code, not one per load or move."""
    ste = ScriptedStation("pi-ste", "sterilizer")
    for cycle in (1, 2):
        hub.deliver(ste.scan("STE-Z9", f"STE-Z9.{cycle}", "INS-1", "CMD-CYCLE-PASS"))
    porter = ScriptedStation("pi-porter", "asset_move")
    for _ in range(3):
        hub.deliver(porter.scan("AST-1", "LOC-77"))
    assert len(_rows(hub, records.cycles)) == 2 and len(_rows(hub, records.assignments)) == 3
    details = _alerts(hub, "unregistered_code")
    assert details.count("sterilizer site:STE-Z9 is not registered") == 1
    assert details.count("location site:LOC-77 is not registered") == 1


def test_a_catch_up_step_yields_to_a_waiting_message_and_the_next_steps_finish_the_rest(
    hub: HubUnderTest, tmp_path: Path
) -> None:
    """With a message waiting, a catch-up step writes the first hundred scans and moves the
    cursor only there; later steps apply the rest once, giving the records, alerts and
    audit entries of a hub that projected them in one go."""
    porter = ScriptedStation("pi-porter", "asset_move")
    for n in range(125):
        porter.scan(f"AST-{n % 9}", f"LOC-{n % 4}")
    hub.deliver(porter.events, project=False)
    assert hub.project_with_a_message_waiting() == projector.YIELD_EVERY
    (stream,) = _rows(hub, agent_streams)
    assert (stream.projected_seq, stream.confirmed_seq) == (projector.YIELD_EVERY, 250)
    hub.project_all()
    at_once = HubUnderTest(f"sqlite:///{tmp_path / 'at_once.db'}")
    at_once.deliver(porter.events)
    for table in records.RECORDS:
        with hub.engine.connect() as ours, at_once.engine.connect() as theirs:
            assert snapshot(ours, table) == snapshot(theirs, table), table.name
    assert sorted(_alerts(hub, "unregistered_code")) == sorted(
        _alerts(at_once, "unregistered_code")
    )
    assert audit_chain.verify(hub.engine).entries == audit_chain.verify(at_once.engine).entries
    at_once.engine.dispose()


def test_a_gap_open_too_long_raises_one_alert(hub: HubUnderTest) -> None:
    """Scans above a missing seq alert once when the gap outlives gap_alert_min."""
    porter = ScriptedStation("pi-gap", "asset_move")
    events = porter.scan("AST-1", "AST-2", "LOC-1")
    hub.deliver(events[2:])
    later = datetime.now(UTC) + timedelta(minutes=11)
    assert hub.checks.check_gaps(datetime.now(UTC)) == 0
    assert hub.checks.check_gaps(later) == 1
    assert hub.checks.check_gaps(later) == 0
    (alert,) = _rows(hub, alerts, kind="gap_open")
    assert "seqs 1..2" in alert.detail


def test_a_reconcile_bug_keeps_the_scans_alerts_and_a_rebuild_repairs_the_records(
    hub: HubUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When reconcile raises for one agent's scans, the other agent's scans in the same
    transaction still make records; the failing scans stay stored and confirmed with a
    high alert, and a rebuild after the fix derives their records."""
    decide = rules.decide

    def broken(scan: Scan, view: View, policy: Policy = DEFAULT_POLICY) -> list[Change]:
        if scan.agent_id == "pi-bad":
            raise RuntimeError("a bug in a rule")
        return decide(scan, view, policy)

    monkeypatch.setattr(rules, "decide", broken)
    good = ScriptedStation("pi-good", "sterilizer")
    bad = ScriptedStation("pi-bad", "asset_move")
    hub.deliver(good.scan("STE-A1", "INS-1", "CMD-CYCLE-PASS"), bad.scan("AST-1", "LOC-1"))
    assert [c.status for c in _rows(hub, records.cycles)] == ["released"]
    assert _rows(hub, records.assets) == []
    (alert,) = _rows(hub, alerts, kind="reconcile_failed")
    assert (alert.severity, alert.agent_id) == ("high", "pi-bad")
    assert "(seqs 1, 2)" in alert.detail and "RuntimeError" in alert.detail
    confirmed = {s.agent_id: s.confirmed_seq for s in _rows(hub, agent_streams)}
    assert confirmed == {"pi-good": 3, "pi-bad": 2}
    monkeypatch.setattr(rules, "decide", decide)
    rebuild(hub.engine)
    assert [a.location for a in _rows(hub, records.assets)] == ["site:LOC-1"]


def test_scans_taken_with_an_unsynced_clock_are_flagged_once_per_station(
    hub: HubUnderTest,
) -> None:
    """A batch of scans whose agent clock was not synced raises one low alert for that
    station; more such scans, from the same boot or the next, raise no second one."""
    porter = ScriptedStation("pi-drift", "asset_move")
    events = [e.model_copy(update={"clock_synced": False}) for e in porter.scan("AST-1", "LOC-1")]
    hub.deliver(events)
    later = [
        e.model_copy(update={"clock_synced": False, "boot_id": "boot-2"})
        for e in porter.scan("AST-2", "LOC-2")
    ]
    hub.deliver(later)
    (alert,) = _rows(hub, alerts, kind="clock_unsynced")
    assert (alert.severity, alert.agent_id) == ("low", "pi-drift")
    assert "scans from seq 1 on" in alert.detail
    assert len(_rows(hub, records.assignments)) == 2


def _tray_through_a_load(end: str) -> tuple[ScriptedStation, ScriptedStation]:
    """INS-1 and INS-2 are assembled into TRY-7; TRY-7 goes into a load that ends with
    ``end``. Returns the bench and the sterilizer, scanned but not delivered."""
    bench = ScriptedStation("pi-tray", "tray_assembly")
    bench.scan("TRY-7", "INS-1", "INS-2", "CMD-COMPLETE")
    spd = ScriptedStation("pi-ste", "sterilizer", bench.at + timedelta(minutes=30))
    spd.scan("STE-A1", "STE-A1.77", "TRY-7", end)
    return bench, spd


def _items(hub: HubUnderTest) -> dict[str, tuple[str, str | None]]:
    return {i.key: (i.status, i.last_cycle) for i in _rows(hub, records.items)}


def test_an_instrument_in_a_tray_from_a_failed_load_used_alone_raises_a_high_alert(
    hub: HubUnderTest,
) -> None:
    """An instrument takes the failed load of the tray it was assembled into, and its use
    on its own at the OR raises a high unsafe_use alert naming that load."""
    bench, spd = _tray_through_a_load("CMD-CYCLE-FAIL")
    hub.deliver(bench.events)
    hub.deliver(spd.events)
    (load,) = _rows(hub, records.cycles)
    assert _items(hub) == {
        "site:TRY-7": ("quarantined", load.session_id),
        "site:INS-1": ("quarantined", load.session_id),
        "site:INS-2": ("quarantined", load.session_id),
    }
    orr = ScriptedStation("pi-or", "point_of_use", spd.at + timedelta(hours=1))
    hub.deliver(orr.scan("CASE-90", "INS-1"))
    (alert,) = _rows(hub, alerts, kind="unsafe_use")
    assert alert.severity == "high"
    assert "site:INS-1" in alert.detail and load.session_id in alert.detail


@pytest.mark.parametrize("late", [False, True], ids=["in_order", "assembly_late"])
def test_an_assembly_that_reaches_the_hub_after_its_load_gives_the_same_records(
    hub: HubUnderTest, late: bool
) -> None:
    """The bench's scans arriving after the sterilizer's leave the same item records as
    the other way round: containment does not depend on arrival order."""
    bench, spd = _tray_through_a_load("CMD-CYCLE-PASS")
    for station in (spd, bench) if late else (bench, spd):
        hub.deliver(station.events)
    (load,) = _rows(hub, records.cycles)
    assert _items(hub) == {
        "site:TRY-7": ("sterile", load.session_id),
        "site:INS-1": ("sterile", load.session_id),
        "site:INS-2": ("sterile", load.session_id),
    }


def test_a_failed_indicator_reaches_the_instruments_inside_the_trays_of_its_load(
    hub: HubUnderTest,
) -> None:
    """A BI that fails after the load passed quarantines the tray and what it holds."""
    bench, spd = _tray_through_a_load("CMD-CYCLE-PASS")
    hub.deliver(bench.events, spd.events)
    assert {status for status, _ in _items(hub).values()} == {"sterile"}
    spd.at += timedelta(days=1)
    hub.deliver(spd.scan("STE-A1.77", "CMD-BI-FAIL"))
    assert {status for status, _ in _items(hub).values()} == {"quarantined"}


def test_an_instrument_moved_to_another_tray_follows_the_new_tray(hub: HubUnderTest) -> None:
    """Reassembled into TRY-8 before TRY-7 went into a failed load, INS-2 takes TRY-8's
    passing load and its use raises no alert; INS-1, left in TRY-7, is quarantined."""
    bench = ScriptedStation("pi-tray", "tray_assembly")
    bench.scan("TRY-7", "INS-1", "INS-2", "CMD-COMPLETE")
    bench.scan("TRY-7", "INS-1", "CMD-COMPLETE", "TRY-8", "INS-2", "CMD-COMPLETE")
    spd = ScriptedStation("pi-ste", "sterilizer", bench.at + timedelta(minutes=30))
    spd.scan("STE-A1", "STE-A1.77", "TRY-7", "CMD-CYCLE-FAIL")
    spd.scan("STE-A1", "STE-A1.78", "TRY-8", "CMD-CYCLE-PASS")
    hub.deliver(bench.events, spd.events)
    statuses = {key: status for key, (status, _) in _items(hub).items()}
    assert statuses == {
        "site:TRY-7": "quarantined",
        "site:INS-1": "quarantined",
        "site:TRY-8": "sterile",
        "site:INS-2": "sterile",
    }
    orr = ScriptedStation("pi-or", "point_of_use", spd.at + timedelta(hours=1))
    hub.deliver(orr.scan("CASE-91", "INS-2"))
    assert _rows(hub, alerts, kind="unsafe_use") == []


def test_a_case_closes_when_the_next_case_opens_or_on_done(hub: HubUnderTest) -> None:
    """At one OR station, CASE-1 is closed by CASE-2 opening (result next_case), and
    CASE-2 by CMD-DONE; another station's open case is left alone."""
    orr = ScriptedStation("pi-or", "point_of_use")
    other = ScriptedStation("pi-or2", "point_of_use")
    hub.deliver(other.scan("CASE-9", "INS-9"))
    hub.deliver(orr.scan("CASE-1", "INS-1", "CASE-2", "INS-2"))
    cases = {s.key: s for s in _rows(hub, records.sessions, kind="case")}
    assert (cases["site:CASE-1"].status, cases["site:CASE-1"].result) == ("closed", "next_case")
    assert cases["site:CASE-1"].closed_at is not None
    assert cases["site:CASE-2"].status == cases["site:CASE-9"].status == "open"
    hub.deliver(orr.scan("CMD-DONE"))
    (done,) = _rows(hub, records.sessions, key="site:CASE-2")
    assert (done.status, done.result) == ("closed", None)
    assert _rows(hub, alerts, kind="impossible_sequence") == []


def test_a_recall_reaches_every_load_since_the_last_passing_bi_and_inside_their_trays(
    hub: HubUnderTest,
) -> None:
    """Load 76's BI passed; loads 77 (TRY-7 holding INS-1 and INS-2) and 78 (INS-5) had
    none; 79's passed. A failed BI for 77 recalls 77 and 78, the tray's instruments with the
    tray named, and the case that used INS-1 after the load, but not one after INS-1 was
    assembled again, and nothing from 76 or 79."""
    bench = ScriptedStation("pi-tray", "tray_assembly")
    bench.scan("TRY-7", "INS-1", "INS-2", "CMD-COMPLETE")
    spd = ScriptedStation("pi-ste", "sterilizer", bench.at + timedelta(minutes=30))
    spd.scan("STE-A1", "STE-A1.76", "INS-8", "CMD-CYCLE-PASS", "STE-A1.76", "CMD-BI-PASS")
    spd.scan("STE-A1", "STE-A1.77", "TRY-7", "CMD-CYCLE-PASS")
    spd.scan("STE-A1", "STE-A1.78", "INS-5", "CMD-CYCLE-PASS")
    spd.scan("STE-A1", "STE-A1.79", "INS-9", "CMD-CYCLE-PASS", "STE-A1.79", "CMD-BI-PASS")
    orr = ScriptedStation("pi-or", "point_of_use", spd.at + timedelta(hours=1))
    orr.scan("CASE-88", "INS-1")
    bench.at = orr.at + timedelta(hours=2)
    bench.scan("TRY-7", "INS-1", "CMD-COMPLETE")  # reprocessed: later uses are another load's
    orr.at = bench.at + timedelta(hours=2)
    orr.scan("CASE-89", "INS-1")
    hub.deliver(bench.events, spd.events, orr.events)
    hub.deliver(spd.scan("STE-A1.77", "CMD-BI-FAIL"))
    with hub.engine.connect() as conn:
        recall = recall_set(conn, "site:STE-A1.77")
        assert recall_set(conn, "site:STE-A1.999") is None
    assert recall is not None
    assert [load["cycle_number"] for load in recall["loads"]] == ["77", "78"]
    assert [(i["item"], i["via_tray"]) for i in recall["items"]] == [
        ("site:INS-1", "site:TRY-7"),
        ("site:INS-2", "site:TRY-7"),
        ("site:INS-5", None),
        ("site:TRY-7", None),
    ]
    assert [(c["case"], c["item"]) for c in recall["cases"]] == [("site:CASE-88", "site:INS-1")]


def test_an_implant_load_stays_quarantined_until_its_indicator_passes(
    hub: HubUnderTest, tmp_path: Path
) -> None:
    """A passed load holding an implant (inside a tray) is quarantined, and so is the
    implant, whose use raises unsafe_use; once the BI passes the load is released and the
    implant sterile."""
    _import(hub, tmp_path, "instruments", [{"code": "INS-1", "name": "Plate", "implant": True}])
    bench, spd = _tray_through_a_load("CMD-CYCLE-PASS")
    hub.deliver(bench.events, spd.events)
    (load,) = _rows(hub, records.cycles)
    assert (load.status, load.implant) == ("quarantined", True)
    assert {k: status for k, (status, _) in _items(hub).items()} == {
        "site:TRY-7": "quarantined",
        "site:INS-1": "quarantined",
        "site:INS-2": "quarantined",
    }
    orr = ScriptedStation("pi-or", "point_of_use", spd.at + timedelta(minutes=10))
    hub.deliver(orr.scan("CASE-90", "INS-1"))
    (alert,) = _rows(hub, alerts, kind="unsafe_use")
    assert "quarantined" in alert.detail and load.session_id in alert.detail
    spd.at += timedelta(hours=24)
    hub.deliver(spd.scan("STE-A1.77", "CMD-BI-PASS"))
    (load,) = _rows(hub, records.cycles)
    assert load.status == "released"
    statuses = {k: status for k, (status, _) in _items(hub).items()}
    assert statuses["site:INS-2"] == statuses["site:TRY-7"] == "sterile"
    assert statuses["site:INS-1"] == "in_use"  # the use came after the load


def test_a_prevac_sterilizers_first_load_without_a_bowie_dick_raises_one_alert(
    hub: HubUnderTest, tmp_path: Path
) -> None:
    """STE-A1 (prevac) runs two loads with no Bowie-Dick test: one high alert naming the
    first; STE-B2 runs its test first and raises none."""
    _import(
        hub,
        tmp_path,
        "sterilizers",
        [
            {"code": "STE-A1", "name": "A1", "cycle_types": ["prevac"]},
            {"code": "STE-B2", "name": "B2", "cycle_types": ["prevac"]},
        ],
    )
    a1 = ScriptedStation("pi-a1", "sterilizer")
    a1.scan("STE-A1", "STE-A1.1", "INS-1", "CMD-CYCLE-PASS", "STE-A1", "INS-2", "CMD-CYCLE-PASS")
    b2 = ScriptedStation("pi-b2", "sterilizer")
    b2.scan("STE-B2", "CMD-TYPE-BOWIE-DICK", "CMD-CYCLE-PASS", "STE-B2", "INS-3", "CMD-CYCLE-PASS")
    hub.deliver(a1.events, b2.events)
    (alert,) = _rows(hub, alerts, kind="bowie_dick_missing")
    first = min(_rows(hub, records.cycles, sterilizer="site:STE-A1"), key=lambda c: c.started_key)
    assert alert.severity == "high" and first.session_id in alert.detail


def test_a_load_cancelled_in_the_same_pass_does_not_hide_an_earlier_stored_load(
    hub: HubUnderTest, tmp_path: Path
) -> None:
    """On a prevac sterilizer, load X is opened and load Y closed in earlier passes; when X
    is cancelled in the pass that closes load Z, Y is still Z's earlier load: no alert."""
    _import(
        hub, tmp_path, "sterilizers", [{"code": "STE-A1", "name": "A1", "cycle_types": ["prevac"]}]
    )
    a1 = ScriptedStation("pi-a1", "sterilizer")
    a2 = ScriptedStation("pi-a2", "sterilizer", a1.at + timedelta(minutes=1))
    a3 = ScriptedStation("pi-a3", "sterilizer", a1.at + timedelta(minutes=5))
    hub.deliver(a1.scan("STE-A1", "INS-1"))  # X, stored while open
    hub.deliver(a2.scan("STE-A1", "INS-2", "CMD-CYCLE-PASS"))  # Y
    hub.deliver(a1.scan("CMD-CANCEL"), a3.scan("STE-A1", "INS-3", "CMD-CYCLE-PASS"))  # Z
    statuses = [c.status for c in sorted(_rows(hub, records.cycles), key=lambda c: c.started_key)]
    assert statuses[0] == "cancelled" and len(statuses) == 3
    assert _rows(hub, alerts, kind="bowie_dick_missing") == []


BI_LABEL = "]d20109501101530003102BILOT7\x1d17{expiry}"  # GS1: (01) GTIN (10) lot (17) expiry


def test_the_load_record_holds_every_st79_field_and_rebuild_keeps_them(
    hub: HubUnderTest,
) -> None:
    """Type, exposure, temperature, chemical indicator, the BI's lot and expiry from its
    GS1 label, operator and releaser are on the cycle record, and a rebuild derives the same."""
    spd = ScriptedStation("pi-ste", "sterilizer")
    spd.scan("USR-ANA", "STE-A1", "STE-A1.5", "CMD-TYPE-PREVAC", "INS-1", "CMD-EXPOSURE-4")
    spd.scan("CMD-TEMP-134", "CMD-CI-PASS", "CMD-BI-LABEL", BI_LABEL.format(expiry="271231"))
    spd.scan("USR-BEN", "CMD-CYCLE-PASS")
    hub.deliver(spd.events)
    (load,) = _rows(hub, records.cycles)
    assert (load.cycle_type, load.exposure_min, load.temperature_c, load.ci_result) == (
        "prevac",
        "4",
        "134",
        "pass",
    )
    assert (load.bi_lot, load.bi_expiry) == ("2BILOT7", "2027-12-31")
    assert (load.operator, load.released_by) == ("site:USR-ANA", "site:USR-BEN")
    assert _rows(hub, alerts, kind="bi_expired") == []
    report = rebuild(hub.engine)
    assert report["cycles"].differ == 0


def test_an_expired_bi_raises_a_high_alert(hub: HubUnderTest) -> None:
    """A BI whose GS1 expiry is before the load's day raises bi_expired naming the lot."""
    spd = ScriptedStation("pi-ste", "sterilizer")  # scans on 2026-11-20
    hub.deliver(spd.scan("STE-A1", "CMD-BI-LABEL", BI_LABEL.format(expiry="261031")))
    (alert,) = _rows(hub, alerts, kind="bi_expired")
    assert alert.severity == "high" and "2BILOT7" in alert.detail and "2026-10-31" in alert.detail
    (load,) = _rows(hub, records.cycles)
    assert load.bi_expiry == "2026-10-31"


def test_a_case_about_to_start_with_a_tray_not_ready_raises_one_alert(
    hub: HubUnderTest, tmp_path: Path
) -> None:
    """CASE-88 starts in 30 minutes and needs TRY-7 (sterile, released) and TRY-8 (never
    sterilized): one high alert naming TRY-8 only, once; CASE-99 in three hours waits."""
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    soon, later = now + timedelta(minutes=30), now + timedelta(hours=3)
    _import(
        hub,
        tmp_path,
        "cases",
        [
            {
                "code": "CASE-88",
                "room": "LOC-OR3",
                "scheduled_start": soon.isoformat(),
                "trays": "TRY-7;TRY-8",
            },
            {"code": "CASE-99", "scheduled_start": later.isoformat(), "trays": ["TRY-8"]},
        ],
    )
    bench, spd = _tray_through_a_load("CMD-CYCLE-PASS")
    bench.scan("TRY-8", "INS-5", "CMD-COMPLETE")
    hub.deliver(bench.events, spd.events)
    assert hub.checks.check_readiness(now) == 1
    (alert,) = _rows(hub, alerts, kind="case_not_ready")
    assert alert.severity == "high"
    assert "site:CASE-88" in alert.detail and "LOC-OR3" in alert.detail
    assert "tray site:TRY-8 is in_service" in alert.detail and "TRY-7" not in alert.detail
    assert hub.checks.check_readiness(now) == 0


def test_a_case_whose_trays_are_ready_or_that_has_begun_raises_no_alert(
    hub: HubUnderTest, tmp_path: Path
) -> None:
    """A case needing only a sterile, released tray, and a case already scanned at the OR,
    raise nothing."""
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    soon = (now + timedelta(minutes=30)).isoformat()
    _import(
        hub,
        tmp_path,
        "cases",
        [
            {"code": "CASE-1", "scheduled_start": soon, "trays": ["TRY-7"]},
            {"code": "CASE-2", "scheduled_start": soon, "trays": ["TRY-9"]},
        ],
    )
    bench, spd = _tray_through_a_load("CMD-CYCLE-PASS")
    orr = ScriptedStation("pi-or", "point_of_use", spd.at)
    hub.deliver(bench.events, spd.events, orr.scan("CASE-2"))
    assert hub.checks.check_readiness(now) == 0


def test_asset_statuses_inspections_and_loans_follow_the_commands(
    hub: HubUnderTest, tmp_path: Path
) -> None:
    """A pump set to maintenance, lent by a badge, returned, then inspected (failed, so out
    of service): each status in turn; the loan names who lent it; the inspection's due date
    comes from the asset's interval, and once past it raises one alert."""
    _import(hub, tmp_path, "assets", [{"code": "AST-P1", "inspection_interval_days": 30}])
    ward = ScriptedStation("pi-ward", "equipment_checkout")
    hub.deliver(ward.scan("CMD-STATUS-MAINTENANCE", "AST-P1"))
    (pump,) = _rows(hub, records.assets)
    assert pump.status == "maintenance"
    hub.deliver(ward.scan("USR-ANA", "PAT-1", "AST-P1", "CMD-DONE"))
    (loan,) = _rows(hub, records.equipment_logs)
    assert (loan.patient, loan.lent_by, loan.status) == ("site:PAT-1", "site:USR-ANA", "on_loan")
    hub.deliver(ward.scan("AST-P1", "CMD-INSPECT-FAIL", "AST-P1"))
    (pump,) = _rows(hub, records.assets)
    assert (pump.status, pump.inspection_result) == ("out_of_service", "fail")
    (inspection,) = _rows(hub, records.inspections)
    assert inspection.inspector == "site:USR-ANA"
    due = utc(pump.inspection_due)
    assert due == utc(inspection.at) + timedelta(days=30)
    assert hub.checks.check_overdue(due - timedelta(days=1)) == 0
    assert hub.checks.check_overdue(due + timedelta(days=1)) == 1
    assert hub.checks.check_overdue(due + timedelta(days=2)) == 0
    (alert,) = _rows(hub, alerts, kind="inspection_overdue")
    assert "site:AST-P1" in alert.detail
    assert rebuild(hub.engine)["assets"].differ == 0


def test_a_loan_past_its_models_loan_period_raises_one_alert(
    hub: HubUnderTest, tmp_path: Path
) -> None:
    """AST-P2's model lends for 2 days and inspects every 90: its loan is due back 2 days
    after it began and alerts once after that; its inspection falls due in 90 days."""
    _import(
        hub,
        tmp_path,
        "asset_models",
        [{"code": "Alaris 8100", "inspection_interval_days": 90, "loan_period_days": 2}],
    )
    _import(hub, tmp_path, "assets", [{"code": "AST-P2", "model": "Alaris 8100"}])
    ward = ScriptedStation("pi-ward", "equipment_checkout")
    hub.deliver(ward.scan("CMD-INSPECT-PASS", "AST-P2", "USR-BEN", "PAT-7", "AST-P2"))
    (loan,) = _rows(hub, records.equipment_logs)
    lent, due_back = utc(loan.loaned_at), utc(loan.due_back)
    assert (loan.lent_by, due_back) == ("site:USR-BEN", lent + timedelta(days=2))
    (pump,) = _rows(hub, records.assets)
    assert utc(pump.inspection_due) - utc(pump.inspected_at) == timedelta(days=90)
    assert hub.checks.check_overdue(due_back - timedelta(hours=1)) == 0
    assert hub.checks.check_overdue(due_back + timedelta(hours=1)) == 1
    assert hub.checks.check_overdue(due_back + timedelta(hours=2)) == 0
    (alert,) = _rows(hub, alerts, kind="loan_overdue")
    assert "site:AST-P2" in alert.detail and "site:USR-BEN" in alert.detail
