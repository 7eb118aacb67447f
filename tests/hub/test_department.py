"""The department report (hub/store/department.py) from a real database that scripted
stations scanned into: per day in the site's zone, trays assembled and short, loads per
sterilizer, BI results, turnaround from end of use to sterile, and unsafe uses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

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
    assert (
        timedelta(hours=1.9) < timedelta(seconds=day["turnaround_median_s"]) < timedelta(hours=2.2)
    )
