"""Names on pages (hub/web/glossary.py), read from a real database: a code beside its name
and linked, a load by its cycle label, a place by its path, a person by name and role,
and an alert's detail with every key, load id and UTC time in it put into words."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from hub import refdata
from hub.store import names
from hub.store.records import cycles
from hub.web.glossary import Glossary
from hub.web.wording import Clock, guide
from tests.harness.stations import HubUnderTest, ScriptedStation

REFERENCE = {
    "instruments": [{"code": "INS-9", "name": "Mayo scissors"}],
    "sterilizers": [{"code": "STE-A1", "name": "Steam 1", "cycle_types": ["prevac"]}],
    "locations": [
        {"code": "LOC-MAIN", "name": "Main building", "level": "building"},
        {"code": "LOC-OR1", "name": "OR 1", "level": "room", "parent": "LOC-MAIN"},
    ],
    "staff": [{"code": "USR-1", "name": "Ana Ruiz", "role": "SPD tech"}],
}


def test_a_detail_written_in_keys_reads_as_names_links_and_local_time(
    hub: HubUnderTest, tmp_path: Path
) -> None:
    """Keys, the load's id and a UTC time in an alert's detail come out as a linked code
    with its name, the load's cycle label and Madrid's time; a place is its path."""
    for kind, rows in REFERENCE.items():
        path = tmp_path / f"{kind}.json"
        path.write_text(json.dumps(rows))
        refdata.load(hub.engine, kind, path)
    ste = ScriptedStation("pi-ste", "sterilizer")
    hub.deliver(ste.scan("USR-1", "STE-A1", "STE-A1.5", "INS-9", "CMD-CYCLE-FAIL"))
    with hub.engine.connect() as conn:
        (session_id,) = conn.execute(sa.select(cycles.c.session_id)).scalars()
        (load,) = names.loads(conn, [session_id]).values()
        g = Glossary(conn, names.catalogue(conn), Clock(ZoneInfo("Europe/Madrid")), guide)
        said = str(
            g.prose(
                f"site:INS-9 used from load {session_id} on site:STE-A1 in site:LOC-OR1 "
                "at 2026-12-06 09:30."
            )
        )
        assert load.label == "site:STE-A1.5" and load.status == "failed"
        assert '<a href="/history/INS-9">INS-9</a> Mayo scissors' in said
        assert '<a href="/loads/STE-A1.5">STE-A1.5</a>' in said
        assert "OR 1 › Main building" in said
        assert "Sun 6 Dec 10:30:00" in said
        assert session_id not in said and "site:" not in said
        assert g.person("site:USR-1") == "Ana Ruiz (SPD tech)"
        assert g.person("user:olga") == "olga"
        assert str(g.subject("site:STE-A1.5")) == 'load <a href="/loads/STE-A1.5">STE-A1.5</a>'
        assert "<script>" not in str(g.prose("<script>alert(1)</script> site:INS-9"))
        assert g.clock.day(datetime(2026, 12, 6, 23, 30, tzinfo=UTC)) == "Mon 7 Dec 2026"


def test_a_place_that_is_a_station_reads_as_the_station_s_name(hub: HubUnderTest) -> None:
    """A tray last seen at a bench whose scans name no room is "where" that bench is,
    by the name the station reports, not its agent id; an unknown place as printed."""
    known = names.Catalogue(stations={"bench-pi-tray": "Tray bench 1"})
    with hub.engine.connect() as conn:
        g = Glossary(conn, known, Clock(ZoneInfo("Europe/Madrid")), guide)
        assert g.place("bench-pi-tray") == "Tray bench 1"
        assert g.place("site:LOC-NOWHERE") == "LOC-NOWHERE"
