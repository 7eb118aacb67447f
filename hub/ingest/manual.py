"""What people enter at the hub instead of scanning: a load's fields where no command
barcode is used (a cycle print-out read after the load closed, a releaser without a
badge scan at the sterilizer).

Each entry becomes a scan in the scan log, on the hub's own stream (agent ``hub``,
incarnation ``api``), with the command barcode a station would have sent as its raw text
and the context naming the load. The projector then applies it by the same rules as a
scanned command, and ``rebuild`` derives it again from the log: records never hold what
the log does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import uuid6
from sqlalchemy.engine import Connection

from hub.ingest import inbox
from hub.store.tables import agent_streams
from protocol.messages import MAX_SHORT_TEXT, ScanContext, ScanEvent
from protocol.topics import HUB_AGENT_ID
from protocol.vocabulary import (
    EXPOSURE_PREFIX,
    TEMPERATURE_PREFIX,
    TYPE_PREFIX,
    Action,
    Command,
    Mode,
    SessionKind,
)

INCARNATION = "api"
STREAM = (HUB_AGENT_ID, INCARNATION)


@dataclass(frozen=True)
class Entry:
    """One field: the raw text a station would have scanned, the action, its value."""

    raw: str
    action: Action
    target: str


def entries(fields: dict[str, Any]) -> list[Entry]:
    """The entries for a load's fields as the API takes them. Pure."""
    made = []
    if fields.get("cycle_type") is not None:
        kind = str(fields["cycle_type"]).lower()
        made.append(Entry(f"CMD-{TYPE_PREFIX}{kind.upper()}", Action.CYCLE_TYPE, kind))
    if fields.get("exposure_min") is not None:
        minutes = f"{fields['exposure_min']:g}"
        made.append(Entry(f"CMD-{EXPOSURE_PREFIX}{minutes}", Action.EXPOSURE, minutes))
    if fields.get("temperature_c") is not None:
        degrees = f"{fields['temperature_c']:g}"
        made.append(Entry(f"CMD-{TEMPERATURE_PREFIX}{degrees}", Action.TEMPERATURE, degrees))
    if fields.get("ci_result") is not None:
        result = str(fields["ci_result"])
        command = Command.CI_PASS if result == "pass" else Command.CI_FAIL
        made.append(Entry(f"CMD-{command}", Action.CI_RESULT, result))
    if fields.get("early_release_reason") is not None:
        why = str(fields["early_release_reason"])
        made.append(Entry("CMD-EARLY-RELEASE", Action.EARLY_RELEASE, why))
    if fields.get("releaser") is not None:
        badge = str(fields["releaser"])
        made.append(Entry(badge, Action.RELEASER, badge))
    return made


def enter(
    conn: Connection, session_id: str, fields: dict[str, Any], by: str, now: datetime
) -> list[int]:
    """Append ``fields`` to the hub's stream as scans of load ``session_id``, entered by the
    actor ``by`` (``token:<name>``, ``user:<name>``); the seqs they got. The caller commits."""
    made = entries(fields)
    c = agent_streams.c
    # The UPDATE comes first: on SQLite it takes the write lock before the seq is read, so
    # two entries at once never pick the same seq (the second waits for the first).
    conn.execute(
        agent_streams.update()
        .where(c.agent_id == HUB_AGENT_ID, c.incarnation == INCARNATION)
        .values(updated_at=now)
    )
    last = inbox.highest_seq(conn, STREAM)
    context = {
        "station": "api",
        # The audit entries these make name who entered them as their actor.
        "operator": by[:MAX_SHORT_TEXT],
        "mode": Mode.STERILIZER,
        "session_id": session_id,
        "session_kind": SessionKind.LOAD,
    }
    events = {
        last + n: ScanEvent(
            event_id=uuid6.uuid7(),
            agent_id=HUB_AGENT_ID,
            incarnation=INCARNATION,
            seq=last + n,
            boot_id=INCARNATION,
            monotonic_ns=0,
            scanned_at=now,
            clock_synced=True,
            scanner_id="api",
            raw=entry.raw,
            context=ScanContext(**context, action=entry.action, target=entry.target),
        )
        for n, entry in enumerate(made, start=1)
    }
    inbox.store(conn, {STREAM: events}, now, _no_correction)
    return sorted(events)


def _no_correction(event: ScanEvent) -> datetime:
    return event.scanned_at  # the hub's own clock
