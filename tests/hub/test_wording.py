"""The department's words (hub/web/wording.py, pure): codes as printed, times in the
site's zone, durations, statuses, and CSV cells that never run as formulas."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.mqtt import CERTIFICATE_ALARMS
from hub.domain.stages import tray_stage
from hub.domain.statuses import AlertKind
from hub.web import wording
from hub.web.fleet_view import outages
from hub.web.wording import Clock

MADRID = Clock(ZoneInfo("Europe/Madrid"))
NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("key", "shown"),
    [
        ("site:INS-1041", "INS-1041"),
        ("gs1:01:09506000134352:21:A7", "(01)09506000134352(21)A7"),
        ("hibc:H123:ABC1230:42", "+H123ABC1230/$+42"),
        ("raw:what was read", "what was read"),
        ("", ""),
    ],
)
def test_a_key_is_shown_as_its_label_prints_it(key: str, shown: str) -> None:
    """A key loses its scheme: site codes as typed, GS1 as its human-readable line."""
    assert wording.printed(key) == shown


def test_times_are_local_to_the_second_with_the_year_only_when_it_differs() -> None:
    """09:00 UTC in December is 10:00 in Madrid; a time last year says its year."""
    assert MADRID.time(NOW, now=NOW) == "Sun 6 Dec 10:00:00"
    assert MADRID.time("2025-07-01T12:00:00+00:00", now=NOW) == "Tue 1 Jul 2025 14:00:00"
    assert MADRID.time(None) == ""


def test_recent_times_also_say_how_long_ago() -> None:
    """Within a day: just now, minutes, hours; older or future times say nothing more."""
    assert MADRID.ago(NOW - timedelta(seconds=20), now=NOW) == "just now"
    assert MADRID.ago(NOW - timedelta(minutes=4), now=NOW) == "4 min ago"
    assert MADRID.ago(NOW - timedelta(hours=3), now=NOW) == "3 h 00 min ago"
    assert MADRID.ago(NOW - timedelta(days=2), now=NOW) == ""


def test_durations_read_in_the_largest_units_that_fit() -> None:
    """Seconds, minutes, hours and minutes, days and hours."""
    assert [wording.duration(s) for s in (45, 720, 3 * 3600 + 300, 2 * 86400 + 4 * 3600)] == [
        "45 s",
        "12 min",
        "3 h 05 min",
        "2 d 4 h",
    ]


def test_statuses_are_words_and_an_unknown_one_still_reads() -> None:
    """Known statuses from the table; a new one with its underscores as spaces."""
    assert wording.word("in_use") == "in use"
    assert wording.word("dirty") == "used, to reprocess"
    assert wording.word("brand_new_status") == "brand new status"


def test_every_alert_kind_the_hub_raises_has_a_title_and_a_next_step() -> None:
    """The table covers each kind (hub/domain/statuses.py AlertKind) and no other; the
    site's own instruction replaces the default."""
    assert set(wording.ALERT_GUIDES) == set(AlertKind)
    for kind, guide in wording.ALERT_GUIDES.items():
        assert guide.title and guide.next_step, kind
    mine = wording.guide("bi_failed", {"bi_failed": "Call the SPD lead on 4411."})
    assert mine.next_step == "Call the SPD lead on 4411." and mine.title
    assert wording.guide("never_heard_of").title == "Never heard of"


@given(st.text(max_size=40))
def test_a_csv_cell_never_starts_a_formula(text: str) -> None:
    """Whatever a person typed, the cell starts with no =, +, -, @, tab or return."""
    cell = wording.csv_cell(text)
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert cell.endswith(text)


def test_a_tray_stage_is_whatever_happened_last() -> None:
    """Assembled after its use, then in a load, then sterile; one never seen says so."""
    t = [NOW + timedelta(minutes=m) for m in range(4)]
    assert tray_stage(None, None, None, None, None).name == "never_seen"
    assert tray_stage("in_use", t[0], None, None, None).name == "in_use"
    assert tray_stage("dirty", t[0], t[1], None, None).name == "assembled"
    assert tray_stage("dirty", t[0], t[1], None, t[2]).name == "in_load"
    assert tray_stage("sterile", t[3], t[1], None, t[2]).name == "on_shelf"
    assert tray_stage("dirty", t[0], None, t[1], None).name == "assembling"
    assert tray_stage("quarantined", t[3], t[1], None, None).since == t[3]


def test_a_stations_outage_is_told_from_offline_to_caught_up() -> None:
    """Offline, online and caught_up events make one outage with its length and catch-up."""
    events = [
        {"kind": "online", "at": NOW, "backlog": None},
        {"kind": "offline", "at": NOW + timedelta(minutes=1), "backlog": None},
        {"kind": "online", "at": NOW + timedelta(minutes=3), "backlog": None},
        {"kind": "caught_up", "at": NOW + timedelta(minutes=3, seconds=12), "backlog": 14},
        {"kind": "offline", "at": NOW + timedelta(minutes=9), "backlog": None},
    ]
    newest, first = outages(events)
    assert newest["up_at"] is None
    assert first["down_s"] == 120 and first["catch_up_s"] == 12 and first["backlog"] == 14


def test_every_alarm_an_agent_raises_has_words_that_say_what_to_do() -> None:
    """Each alarm the agent's code can raise (read from its source, and the certificate
    alarms) is shown in words on the fleet and station pages, never as its key."""
    agent = Path(__file__).resolve().parents[2] / "agent"
    source = "".join(path.read_text() for path in agent.rglob("*.py"))
    raised = set(re.findall(r'alarms\.add\("([a-z_]+)"\)', source)) | CERTIFICATE_ALARMS
    assert len(raised) >= 9, raised
    unworded = [alarm for alarm in raised if alarm not in wording.WORDS]
    assert not unworded, unworded
