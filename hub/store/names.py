"""What a person calls each thing the records name by key: the reference data's names, a
location's path, a person's name and role, a load's cycle label.

Pages read names through here (hub/web/glossary.py); the API keeps its keys and puts
``_name`` beside them (hub/store/queries.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.store import records
from hub.store.tables import agents
from protocol.barcodes import Kind


@dataclass(frozen=True)
class Place:
    name: str
    level: str | None
    parent: str | None


@dataclass(frozen=True)
class Catalogue:
    """Every registered code's name, by key. Small beside the records (a hospital has
    thousands of instruments, not millions), so a page reads it whole and it is cached."""

    things: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (kind, name)
    places: dict[str, Place] = field(default_factory=dict)
    people: dict[str, tuple[str, str]] = field(default_factory=dict)  # badge -> (name, role)
    cases: dict[str, str | None] = field(default_factory=dict)  # case -> procedure
    trays: tuple[str, ...] = ()  # every tray in the catalogue, in code order
    stations: dict[str, str] = field(default_factory=dict)  # agent -> its station's name


def catalogue(conn: Connection) -> Catalogue:
    r = records
    things: dict[str, tuple[str, str]] = {}
    for kind, table in (
        ("instrument", r.ref_instruments),
        ("tray", r.ref_trays),
        ("sterilizer", r.ref_sterilizers),
    ):
        things.update(
            {
                code: (kind, name)
                for code, name in conn.execute(sa.select(table.c.code, table.c.name))
            }
        )
    a = r.ref_assets.c
    for code, model, maker, category in conn.execute(
        sa.select(a.code, a.model, a.manufacturer, a.category)
    ):
        # "Patient monitor PM-9 (Acme Medical)": the model says what it is; else its category.
        said = model or (category.capitalize() if category else "")
        things[code] = ("asset", f"{said} ({maker})" if said and maker else said)
    loc = r.ref_locations.c
    places = {
        code: Place(name, level, parent)
        for code, name, level, parent in conn.execute(
            sa.select(loc.code, loc.name, loc.level, loc.parent)
        )
    }
    s = r.ref_staff.c
    people = {
        code: (name, role) for code, name, role in conn.execute(sa.select(s.code, s.name, s.role))
    }
    c = r.ref_cases.c
    cases = {code: procedure for code, procedure in conn.execute(sa.select(c.code, c.procedure))}
    trays = tuple(sorted(k for k, (kind, _) in things.items() if kind == Kind.TRAY))
    stations = {
        agent_id: station
        for agent_id, station in conn.execute(sa.select(agents.c.agent_id, agents.c.station))
        if station
    }
    return Catalogue(things, places, people, cases, trays, stations)


@dataclass(frozen=True)
class Load:
    """A load as a page names it: its cycle label and what became of it."""

    label: str  # ``<sterilizer key>.<cycle number>``, or the sterilizer alone if unnumbered
    numbered: bool
    status: str
    result: str | None
    bi_result: str | None
    cycle_type: str | None
    exposure_min: str | None
    temperature_c: str | None


def loads(conn: Connection, session_ids: Iterable[str]) -> dict[str, Load]:
    """Each load by its session id."""
    wanted = sorted({s for s in session_ids if s})
    if not wanted:
        return {}
    c = records.cycles.c
    rows = conn.execute(
        sa.select(
            c.session_id,
            c.sterilizer,
            c.cycle_number,
            c.status,
            c.result,
            c.bi_result,
            c.cycle_type,
            c.exposure_min,
            c.temperature_c,
        ).where(c.session_id.in_(wanted))
    )
    return {
        row.session_id: Load(
            f"{row.sterilizer}.{row.cycle_number}" if row.cycle_number else row.sterilizer,
            bool(row.cycle_number),
            row.status,
            row.result,
            row.bi_result,
            row.cycle_type,
            row.exposure_min,
            row.temperature_c,
        )
        for row in rows
    }
