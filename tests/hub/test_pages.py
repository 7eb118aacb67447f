"""The dashboard's pages as a viewer reads them, rendered from a real database that scripted
stations scanned into: each shows what it is for, its live part is served alone, and a
change is offered only to a role that may make it."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from hub.access.roles import Role
from hub.store.records import ref_trays
from hub.web.app import create_app
from tests.harness.api import Client
from tests.harness.stations import HubUnderTest, ScriptedStation

BROWSER = {"Accept": "text/html"}


def _scanned(hub: HubUnderTest) -> str:
    """A load, a short tray, a case and an asset move, an hour ago; the load's day."""
    with hub.engine.begin() as conn:
        recipe = '{"site:INS-1": 1, "site:INS-2": 1}'
        conn.execute(
            sa.insert(ref_trays), [{"code": "site:TRY-7", "name": "Lap", "recipe": recipe}]
        )
    start = datetime.now(UTC) - timedelta(hours=1)
    bench = ScriptedStation("pi-bench", "tray_assembly", start)
    ste = ScriptedStation("pi-ste", "sterilizer", start + timedelta(minutes=5))
    room = ScriptedStation("pi-or", "point_of_use", start + timedelta(minutes=10))
    porter = ScriptedStation("pi-porter", "asset_move", start)
    hub.deliver(
        bench.scan("USR-1", "TRY-7", "INS-1", "CMD-COMPLETE"),
        ste.scan("USR-1", "STE-A1", "STE-A1.5", "TRY-7", "CMD-CYCLE-PASS"),
        room.scan("USR-2", "CASE-88", "INS-1", "CMD-DONE"),
        porter.scan("USR-3", "AST-1", "LOC-OR1"),
    )
    return (start + timedelta(minutes=5)).date().isoformat()


def test_each_page_shows_what_it_is_for(hub: HubUnderTest) -> None:
    """Loads by day, the tray board with its missing items, cases, assets, search and a
    timeline each show the scanned facts, codes as printed and linked, names beside them
    and statuses as words; each page's part is served alone too."""
    day = _scanned(hub)
    viewer = Client.as_role(create_app(hub.engine), hub.engine, Role.VIEWER)
    expected = {
        f"/loads?day={day}": ['href="/loads/STE-A1.5">STE-A1.5</a>', "released"],
        "/loads/STE-A1.5": ["Contents", '">TRY-7</a> Lap'],
        "/trays": ['">TRY-7</a> Lap', "closed short (missing 1× ", '">INS-2</a>'],
        "/trays?period=week": ["tray closed short"],
        "/cases": ['">CASE-88</a>', "done", 'href="/history/INS-1">INS-1</a>'],
        "/assets": ['">AST-1</a>', "LOC-OR1"],
        "/search?q=try-7": [">TRY-7</a>", "Lap"],
        "/history/TRY-7": ["at pi-ste", "went into load", "assembled short"],
        "/alerts?severity=medium": ["Unregistered code scanned", "Add the code"],
    }
    for path, texts in expected.items():
        page = viewer.get(path, headers=BROWSER)
        assert page.status_code == 200, (path, page.text)
        for text in texts:
            assert text in page.text, (path, text)
        part = viewer.get("/parts" + path, headers=BROWSER)
        assert part.status_code == 200 and texts[0] in part.text and "<nav" not in part.text


def test_changes_are_offered_only_to_roles_that_may_make_them(hub: HubUnderTest) -> None:
    """A viewer sees no Acknowledge or Replay button; an operator acknowledges; only an
    admin replays; a page's filter that is not one it knows is ignored, not an error."""
    _scanned(hub)
    app = create_app(hub.engine)
    viewer = Client.as_role(app, hub.engine, Role.VIEWER)
    operator = Client.as_role(app, hub.engine, Role.OPERATOR)
    admin = Client.as_role(app, hub.engine, Role.ADMIN)
    assert "Acknowledge" not in viewer.get("/alerts", headers=BROWSER).text
    assert "Acknowledge" in operator.get("/alerts", headers=BROWSER).text
    with hub.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO dead_letters (received_at, topic, reason, detail, payload, "
            "payload_bytes) VALUES (CURRENT_TIMESTAMP, 't', 'bad_json', 'x', '{', 1)"
        )
    assert viewer.get("/dead-letters", headers=BROWSER).status_code == 403
    assert "Replay" not in operator.get("/dead-letters", headers=BROWSER).text
    assert "Replay" in admin.get("/dead-letters", headers=BROWSER).text
    odd = viewer.get("/alerts?severity=urgent&kind=" + "k" * 500, headers=BROWSER)
    assert odd.status_code == 200
    missing = viewer.get("/loads/STE-Z9.1", headers=BROWSER)
    assert missing.status_code == 404


def test_a_history_and_the_report_download_as_csv_that_never_runs_a_formula(
    hub: HubUnderTest,
) -> None:
    """TRY-7's history and the department report come as CSV with a header row and the
    page's sentences; a station named like a formula is escaped in its cell."""
    day = _scanned(hub)
    odd = ScriptedStation("pi-odd", "tray_assembly")
    hub.deliver(
        [
            e.model_copy(
                update={"context": e.context.model_copy(update={"station": "=HYPERLINK(1)"})}
            )
            for e in odd.scan("USR-9", "TRY-7", "INS-2", "CMD-COMPLETE")
        ]
    )
    viewer = Client.as_role(create_app(hub.engine), hub.engine, Role.VIEWER)
    history = viewer.get("/history/TRY-7/csv")
    assert history.status_code == 200 and history.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(history.text)))
    assert rows[0] == ["when", "what", "by", "station", "arrived", "scan"]
    assert any("assembled short" in row[1] for row in rows[1:])
    assert "'=HYPERLINK(1)" in {row[3] for row in rows[1:]}
    assert not any(cell.startswith("=") for row in rows for cell in row)
    report = viewer.get("/reports/csv")
    assert report.status_code == 200
    (header, *periods) = list(csv.reader(io.StringIO(report.text)))
    assert header[:3] == ["period", "trays assembled", "closed short"] and periods, day
