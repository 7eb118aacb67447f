"""The department report (hub/store/department.py) from a real database that scripted
stations scanned into: per day in the site's zone, trays assembled and short, loads per
sterilizer, BI results, turnaround from end of use to sterile, and unsafe uses."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hub import refdata
from hub.store import department
from tests.harness.stations import HubUnderTest, ScriptedStation

START = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def test_a_day_counts_what_was_processed_and_how_long_a_tray_took_to_come_back(
    hub: HubUnderTest,
) -> None:
    """TRY-7 is used at 08:00, assembled short at 09:00 and sterile at 10:00 (two hours
    after its use); a second load's BI fails: one day, one tray short, two loads, one BI
    failed, one turnaround of about two hours."""
    room = ScriptedStation("pi-or", "point_of_use", START)
    bench = ScriptedStation("pi-bench", "tray_assembly", START + timedelta(hours=1))
    ste = ScriptedStation("pi-ste", "sterilizer", START + timedelta(hours=2))
    room.scan("USR-1", "CASE-1", "TRY-7", "CMD-DONE")
    bench.scan("USR-2", "TRY-7", "INS-1", "CMD-COMPLETE")
    ste.scan("USR-3", "STE-A1", "STE-A1.5", "TRY-7", "CMD-CYCLE-PASS")
    ste.scan("STE-A1", "STE-A1.6", "INS-2", "CMD-CYCLE-PASS", "STE-A1.6", "CMD-BI-FAIL")
    hub.deliver(room.events, bench.events, ste.events)
    with hub.engine.connect() as conn:
        (day,) = department.report(
            conn, START - timedelta(days=1), START + timedelta(days=1), "day", ZoneInfo("UTC")
        )
    assert day["period"] == "2026-12-01"
    assert (day["trays_assembled"], day["loads"], day["bi_fail"]) == (1, {"site:STE-A1": 2}, 1)
    assert day["turnarounds"] == 1
    assert day["not_ready"] == 0  # no case was scheduled
    assert (
        timedelta(hours=1.9) < timedelta(seconds=day["turnaround_median_s"]) < timedelta(hours=2.2)
    )


def test_a_tray_not_back_on_the_shelf_by_seven_counts_against_its_day(
    hub: HubUnderTest, tmp_path: Path
) -> None:
    """Two cases on 2 Dec need TRY-7 and TRY-8: TRY-7 came out of a passing load at 06:00,
    TRY-8's load ended at 07:30; only TRY-8 was not ready at 07:00."""
    cases = [
        {"code": "CASE-1", "scheduled_start": "2026-12-02T08:00:00+00:00", "trays": ["TRY-7"]},
        {"code": "CASE-2", "scheduled_start": "2026-12-02T09:00:00+00:00", "trays": ["TRY-8"]},
    ]
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    refdata.load(hub.engine, "cases", tmp_path / "cases.json")
    early = ScriptedStation("pi-ste", "sterilizer", datetime(2026, 12, 2, 5, 55, tzinfo=UTC))
    late = ScriptedStation("pi-ste2", "sterilizer", datetime(2026, 12, 2, 7, 28, tzinfo=UTC))
    early.scan("STE-A1", "STE-A1.7", "TRY-7", "CMD-CYCLE-PASS")
    late.scan("STE-A2", "STE-A2.8", "TRY-8", "CMD-CYCLE-PASS")
    hub.deliver(early.events, late.events)
    with hub.engine.connect() as conn:
        (day,) = department.report(conn, START, START + timedelta(days=2), "day", ZoneInfo("UTC"))
    assert day["period"] == "2026-12-02"
    assert (day["not_ready"], day["not_ready_trays"]) == (1, {"site:TRY-8": 1})
