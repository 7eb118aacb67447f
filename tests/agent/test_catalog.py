"""The station with the hub's reference snapshot: a blocked item is stopped at point of
use (recorded, not added), a tray bench is warned about what the count sheet does not
list, and without a snapshot nothing changes."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import count

from agent.catalog import Catalog
from agent.session import Instant
from agent.station import Station, Verdict
from protocol.barcodes import DEFAULT_RULES
from protocol.reference import Blocked, InstrumentRef, ReferenceSnapshot, StaffRef, TrayRef
from protocol.vocabulary import Outcome

SNAPSHOT = ReferenceSnapshot(
    built_at=datetime(2026, 11, 21, tzinfo=UTC),
    instruments=(
        InstrumentRef(key="site:INS-1", name="Mayo scissors", category="scissors"),
        InstrumentRef(key="site:INS-2", name="Kelly clamp", category="clamps"),
        InstrumentRef(key="site:INS-3", name="Retractor", category="retractors"),
        InstrumentRef(key="site:INS-9", name="Needle holder", category="holders"),
    ),
    trays=(TrayRef(key="site:TRY-7", name="Basic set", recipe={"site:INS-1": 1, "clamps": 2}),),
    blocked=(Blocked(key="site:INS-9", reason="its load A1.5 failed"),),
    open_trays={"site:INS-3": "site:TRY-8"},
)


class Desk:
    """A station fed one scan a second, with or without a catalogue, as the intake does."""

    def __init__(self, mode: str, catalog: Catalog | None) -> None:
        self.station = Station("Bench 1", mode, DEFAULT_RULES)
        self.state = self.station.initial()
        self.catalog = catalog
        self.ids = count(1)

    def scan(self, text: str) -> Verdict:
        now = Instant(datetime(2026, 11, 21, tzinfo=UTC), next(self.ids) * 10**9, "b", True)
        verdict = self.station.consider(self.state, text, now, f"e{now.monotonic_ns}", self.catalog)
        self.state = verdict.state
        return verdict


def test_a_blocked_item_at_point_of_use_is_stopped_with_its_reason_and_still_recorded() -> None:
    """INS-9 from a failed load: outcome blocked, the reason on screen, recorded for the
    hub with action use, and the case does not count it; INS-1 next is a normal use."""
    desk = Desk("point_of_use", Catalog(SNAPSHOT))
    desk.scan("CASE-1")
    blocked = desk.scan("INS-9")
    assert blocked.outcome is Outcome.BLOCKED and blocked.record
    assert "do not use INS-9" in blocked.message and "A1.5 failed" in blocked.message
    assert blocked.context.action == "use" and blocked.reading is not None
    assert blocked.reading.outcome == "blocked" and "blocked" in blocked.reading.warnings
    assert blocked.state.session is not None and "site:INS-9" not in blocked.state.session.items
    assert desk.scan("INS-1").outcome is Outcome.KEPT


def test_the_tray_bench_is_warned_about_what_the_count_sheet_does_not_list() -> None:
    """On TRY-7: INS-1 (listed) and INS-2 (its category listed) pass quietly; INS-3 is not
    listed and is in open tray TRY-8; INS-77 is unknown. All are kept, with the reason."""
    desk = Desk("tray_assembly", Catalog(SNAPSHOT))
    desk.scan("TRY-7")
    quiet = [desk.scan("INS-1"), desk.scan("INS-2")]
    assert all(v.outcome is Outcome.KEPT and "check" not in v.message for v in quiet)
    odd = desk.scan("INS-3")
    assert odd.outcome is Outcome.KEPT and odd.reading is not None
    assert set(odd.reading.warnings) == {"not_in_count_sheet", "in_another_open_tray"}
    assert "not in this tray's count sheet" in odd.message and "TRY-8" in odd.message
    unknown = desk.scan("INS-77")
    assert unknown.reading is not None and "unknown_instrument" in unknown.reading.warnings
    assert unknown.state.session is not None and len(unknown.state.session.items) == 5


def test_without_a_snapshot_the_station_decides_as_before() -> None:
    """No catalogue: the same scans are plain kept uses and tray items, with no warnings."""
    use = Desk("point_of_use", None)
    use.scan("CASE-1")
    assert use.scan("INS-9").outcome is Outcome.KEPT
    tray = Desk("tray_assembly", None)
    tray.scan("TRY-7")
    verdict = tray.scan("INS-3")
    assert verdict.outcome is Outcome.KEPT and verdict.reading is not None
    assert verdict.reading.warnings == ()


def test_the_screen_names_what_the_snapshot_knows() -> None:
    """With a snapshot, a badge greets the person by name and a tray or instrument shows
    beside its name; a code the snapshot does not know shows as printed."""
    staffed = SNAPSHOT.model_copy(
        update={"staff": (StaffRef(key="site:USR-1", name="Ana Ruiz", role="SPD tech"),)}
    )
    desk = Desk("tray_assembly", Catalog(staffed))
    assert desk.scan("USR-1").message == "Hello, Ana Ruiz"
    assert desk.scan("TRY-7").message == "Tray TRY-7 Basic set"
    assert desk.scan("INS-1").message.startswith("INS-1 Mayo scissors — 1 in tray")
    assert desk.scan("INS-77").message.startswith("INS-77 — 2 in tray")
