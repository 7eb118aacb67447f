"""A sterilizer's record as the projector takes it: each reading kept with its cycle, each
cycle judged when it ends and attached to its load (hub/domain/cycle_record.py decides).

A reading is an event of its station's stream like a scan (protocol/sterilizer.py), so it
reaches here in seq order with the station's scans. The cycle ends at its ``complete`` or
``aborted`` line, or, for a cycle whose end was never read, at the first line of the
sterilizer's next cycle. Judging reads every reading of the cycle, stored or held in this
pass. A load whose record failed cannot be released (rules.cycle_status), a high alert
names it and why, and the history says the cycle was captured, with its verdict.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from hub.domain import changes as ch
from hub.domain.cycle_record import (
    DEFAULT_CYCLE_TYPES,
    LoadWindow,
    Reading,
    judge,
    load_for,
    parameters_for,
)
from hub.domain.facts import Scan, utc
from hub.domain.statuses import AlertKind, CycleStatus, Severity
from hub.reconcile.rows import Row
from hub.reconcile.unit import Unit
from hub.reconcile.writers import Writers
from protocol.sterilizer import ENDS, Phase


@dataclass(frozen=True)
class CycleCaptured:
    """What the history keeps of a judged cycle."""

    cycle_id: str
    sterilizer: str
    cycle_number: str | None
    result: str
    reasons: tuple[str, ...]
    load: str | None


class Capture:
    def __init__(self, unit: Unit, writers: Writers) -> None:
        self.u = unit
        self.w = writers

    def take(self, scan: Scan) -> None:
        reading = scan.reading
        assert reading is not None
        if reading.cycle_id is None:
            return  # an unreadable line before any cycle: it stays in the scan log
        capture = self.u.captures.get(self.u.conn, reading.cycle_id)
        if capture is None:
            self._end_unfinished(scan, reading.sterilizer, reading.cycle_id)
            self.u.captures.insert(
                self.u.conn,
                {
                    "cycle_id": reading.cycle_id,
                    "sterilizer": reading.sterilizer,
                    "cycle_number": reading.cycle_number,
                    "agent_id": scan.agent_id,
                    "started_key": scan.key,
                    "started_at": scan.at,
                    "readings": 0,
                    "unreadable": 0,
                },
            )
            capture = self.u.captures.get(self.u.conn, reading.cycle_id)
            assert capture is not None
        elif reading.cycle_number and not capture["cycle_number"]:
            self.u.captures.update(capture, cycle_number=reading.cycle_number)
        self.u.readings.insert(
            self.u.conn,
            {
                "cycle_id": reading.cycle_id,
                "event_key": scan.key,
                "at": scan.at,
                "elapsed_s": reading.elapsed_s,
                "phase": reading.phase,
                "load_c": reading.load_c,
                "chamber_c": reading.chamber_c,
                "jacket_c": reading.jacket_c,
                "pressure_kpa": reading.pressure_kpa,
                "raw": scan.raw or "",
                "unreadable": reading.unreadable,
            },
        )
        self.u.captures.update(
            capture,
            readings=capture["readings"] + 1,
            unreadable=capture["unreadable"] + (1 if reading.unreadable else 0),
        )
        if reading.phase in ENDS and capture["judged_key"] is None:
            self._judge(scan, capture)

    def _end_unfinished(self, scan: Scan, sterilizer: str, cycle_id: str) -> None:
        """A new cycle on the sterilizer ends the one before it whose end was never read."""
        c = self.u.t.captures.c
        stored = self.u.conn.execute(
            sa.select(c.cycle_id).where(
                c.sterilizer == sterilizer, c.judged_key.is_(None), c.cycle_id != cycle_id
            )
        ).scalars()
        self.u.captures.prefetch(self.u.conn, "cycle_id", list(stored))
        for row in list(self.u.captures.held()):
            if (
                row["sterilizer"] == sterilizer
                and row["judged_key"] is None
                and row["cycle_id"] != cycle_id
            ):
                self._judge(scan, row)

    def attach_waiting(self, scan: Scan, session_id: str) -> None:
        """A load opened, numbered or typed after a cycle it owns was judged (its scans
        reached the hub after the sterilizer's lines, from another station; or its type
        was entered later): the cycle is judged again on it, as it would have been had
        the scans come first, so the records do not depend on the order the stations'
        messages arrived in."""
        load = self.u.cycle(session_id)
        own = self.u.captures.get(self.u.conn, load["capture"]) if load["capture"] else None
        if own is not None:
            self._judge(scan, own, ended=(own["judged_key"], own["ended_at"]))
        c = self.u.t.captures.c
        stored = self.u.conn.execute(
            sa.select(c.cycle_id).where(
                c.sterilizer == load["sterilizer"], c.load.is_(None), c.judged_key.is_not(None)
            )
        ).scalars()
        self.u.captures.prefetch(self.u.conn, "cycle_id", list(stored))
        waiting = [
            row
            for row in self.u.captures.held()
            if row["sterilizer"] == load["sterilizer"]
            and row["load"] is None
            and row["judged_key"] is not None
        ]
        for capture in waiting:
            found = self._load(capture)
            if found is not None and found["session_id"] == session_id:
                self._judge(scan, capture, ended=(capture["judged_key"], capture["ended_at"]))

    def _judge(self, scan: Scan, capture: Row, ended: tuple[str, datetime] | None = None) -> None:
        """Judge the cycle, ended by ``scan`` (or, judged again, where it ``ended``)."""
        judged_key, ended_at = ended or (scan.key, scan.at)
        load = self._load(capture)
        cycle_type = parameters_for(
            load["cycle_type"] if load else None, *self._registered(capture["sterilizer"])
        )
        readings = self._readings(capture)
        if isinstance(cycle_type, str):
            verdict = judge(readings, _UNKNOWN)
            reasons: tuple[str, ...] = (cycle_type, *verdict.reasons)
            figures: dict[str, Any] = {"cycle_type": load["cycle_type"] if load else None}
        else:
            verdict = judge(readings, cycle_type)
            reasons = verdict.reasons
            figures = {
                "cycle_type": cycle_type.name,
                "set_c": cycle_type.set_c,
                "exposure_needed_s": cycle_type.exposure_s,
            }
        result = "pass" if not reasons else "fail"
        self.u.captures.update(
            capture,
            load=load["session_id"] if load else None,
            judged_key=judged_key,
            ended_at=ended_at,
            result=result,
            reasons=json.dumps(list(reasons)),
            exposure_held_s=verdict.exposure_held_s,
            exposure_min_c=verdict.exposure_min_c,
            exposure_max_c=verdict.exposure_max_c,
            longest_gap_s=verdict.longest_gap_s,
            completed=verdict.completed,
            aborted=verdict.aborted,
            **figures,
        )
        captured = CycleCaptured(
            capture["cycle_id"],
            capture["sterilizer"],
            capture["cycle_number"],
            result,
            reasons,
            load["session_id"] if load else None,
        )
        if load is not None:
            self.u.cycles.update(
                load,
                capture=capture["cycle_id"],
                physical_result=result,
                physical_key=judged_key,
                physical_reason="; ".join(reasons) or None,
            )
            self.w.refold_cycle(load["session_id"])
        if self.u.trail is not None:
            entity, key = (
                ("load", load["session_id"]) if load else ("sterilizer", capture["sterilizer"])
            )
            self.u.trail.add(scan, "CycleCaptured", entity, key, captured)
        if result == "fail":
            self.u.raise_alert(scan, _failed(captured, load))

    def _load(self, capture: Row) -> Row | None:
        """Rule 5 of cycle_record: the load with its number, else the one open at its start."""
        c = self.u.t.cycles.c
        stored = self.u.conn.execute(
            sa.select(c.session_id)
            .where(
                c.sterilizer == capture["sterilizer"],
                c.started_key <= capture["started_key"],
            )
            .order_by(c.started_key.desc())
            .limit(20)
        ).scalars()
        keys = list(stored)
        if capture["cycle_number"]:
            keys += self.u.conn.execute(
                sa.select(c.session_id).where(
                    c.sterilizer == capture["sterilizer"],
                    c.cycle_number == capture["cycle_number"],
                )
            ).scalars()
        self.u.cycles.prefetch(self.u.conn, "session_id", keys)
        windows = [
            LoadWindow(
                row["session_id"],
                row["started_key"],
                row["completed_key"],
                row["cycle_number"],
                row["status"] == CycleStatus.CANCELLED,
            )
            for row in self.u.cycles.held()
            if row["sterilizer"] == capture["sterilizer"]
        ]
        found = load_for(capture["started_key"], capture["cycle_number"], windows)
        return self.u.cycles.get(self.u.conn, found) if found else None

    def _registered(self, sterilizer: str) -> tuple[list[str], dict[str, Any]]:
        row = self.u.registered("sterilizers", sterilizer)
        if row is None:
            return [], {}
        return json.loads(row["cycle_types"] or "[]"), json.loads(row["cycle_parameters"] or "{}")

    def _readings(self, capture: Row) -> list[Reading]:
        r = self.u.t.readings.c
        stored = self.u.conn.execute(
            sa.select(r.event_key).where(r.cycle_id == capture["cycle_id"])
        ).scalars()
        self.u.readings.prefetch_keys(self.u.conn, [(capture["cycle_id"], k) for k in stored])
        rows = sorted(
            (row for row in self.u.readings.held() if row["cycle_id"] == capture["cycle_id"]),
            key=lambda row: row["event_key"],
        )
        start = utc(capture["started_at"])
        return [
            Reading(
                at=start + timedelta(seconds=row["elapsed_s"])
                if row["elapsed_s"] is not None
                else utc(row["at"]),
                phase=Phase(row["phase"]),
                temperature_c=row["load_c"] if row["load_c"] is not None else row["chamber_c"],
                pressure_kpa=row["pressure_kpa"],
            )
            for row in rows
            if row["phase"] is not None
        ]


# A cycle whose type has no parameters is judged by these for its figures only: the reason
# that says what is missing fails it.
_UNKNOWN = DEFAULT_CYCLE_TYPES["prevac"]


def _failed(captured: CycleCaptured, load: Row | None) -> ch.Alert:
    label = captured.sterilizer.split(":", 1)[-1]
    if captured.cycle_number:
        label = f"{label}.{captured.cycle_number}"
    what = f"load {label}" if load is not None else f"a cycle on {label} with no load open"
    detail = (
        f"the sterilizer's record failed {what}: {'; '.join(captured.reasons)}. "
        "Do not release it: reprocess the load and review the record"
    )
    subject = load["session_id"] if load is not None else captured.sterilizer
    return ch.Alert(
        Severity.HIGH, AlertKind.PHYSICAL_FAILED, detail, subject, f"physical:{captured.cycle_id}"
    )
