"""The station's words and the hub's rules: one vocabulary, and a clean shift is quiet."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa

from hub import refdata
from hub.store.records import assets
from hub.store.tables import alerts
from protocol.vocabulary import HUB_ENTERED, Action
from tests.harness.shift import REFERENCE, SHIFT
from tests.harness.stations import HubUnderTest, ScriptedStation


def _hub_with_reference(tmp_path: Path) -> HubUnderTest:
    hub = HubUnderTest(f"sqlite:///{tmp_path / 'hub.db'}")
    for kind, rows in REFERENCE.items():
        path = tmp_path / f"{kind}.json"
        path.write_text(json.dumps(rows))
        refdata.load(hub.engine, kind, path)
    return hub


def test_a_clean_shift_emits_every_action_and_the_hub_raises_no_alert(tmp_path: Path) -> None:
    """Every action a station can emit (all but those entered at the hub) reaches the hub's
    rules in a clean shift at every mode, and none of them raises an alert."""
    hub = _hub_with_reference(tmp_path)
    emitted: set[str] = set()
    for agent_id, mode, texts in SHIFT:
        station = ScriptedStation(agent_id, mode)
        made = station.scan(*texts)
        assert len(made) == len(texts), f"{agent_id}: a scan of the shift was refused"
        emitted |= {e.context.action for e in made if e.context.action}
        hub.deliver(made)
    assert emitted == set(Action) - HUB_ENTERED
    with hub.engine.connect() as conn:
        raised = conn.execute(sa.select(alerts.c.kind, alerts.c.detail)).all()
    assert raised == []


def test_an_action_the_hub_does_not_know_yet_raises_one_alert_and_the_line_goes_on(
    tmp_path: Path,
) -> None:
    """v1 carries actions as plain strings: one from a newer station is refused by the rules
    with an alert naming it, and the next scan is applied."""
    hub = _hub_with_reference(tmp_path)
    station = ScriptedStation("pi-porter", "asset_move")
    opened, added = station.scan("AST-P1", "AST-P2")
    strange = added.model_copy(
        update={"context": added.context.model_copy(update={"action": "teleport"})}
    )
    hub.deliver([opened, strange])
    hub.deliver(station.scan("LOC-WARD4"))
    with hub.engine.connect() as conn:
        raised = conn.execute(sa.select(alerts.c.kind, alerts.c.detail)).all()
        moved = conn.execute(sa.select(assets.c.key, assets.c.location)).all()
    assert [kind for kind, _ in raised] == ["impossible_sequence"]
    assert "teleport" in raised[0].detail
    assert moved == [("site:AST-P1", "site:LOC-WARD4")]  # the strange scan changed nothing
