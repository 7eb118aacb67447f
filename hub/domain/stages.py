"""Where a tray stands in its loop, as the tray board shows it (pure).

A tray goes round: in use at a case, returned to sterile processing, assembled at the
bench, in a load, sterile on the shelf, and back to a case. Its record holds its status
and when that status was set; its newest assembly and an open load it is in come from
the checklist and the load. The stage is whichever of these happened last, except that a
quarantine holds until the tray is processed again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from hub.domain.rules import UNRELEASED

# An item's status (hub/domain/rules.py) as the board's stage.
_STAGE_OF_STATUS = {
    "in_use": "in_use",
    "dirty": "returned",
    "repair": "returned",
    "processing": "returned",
    "sterile": "on_shelf",
    "quarantined": "quarantined",
}


@dataclass(frozen=True)
class Stage:
    # in_use | returned | assembling | assembled | in_load | on_shelf | quarantined | never_seen
    name: str
    since: datetime | None


def tray_stage(
    status: str | None,
    status_at: datetime | None,
    assembled_at: datetime | None,
    assembling_since: datetime | None,
    loaded_at: datetime | None,
) -> Stage:
    """The stage of a tray from its status (and when it was set), when its newest assembly
    closed or, while it is still open, began, and when it went into a load still running."""
    if status is None and assembled_at is None and assembling_since is None and loaded_at is None:
        return Stage("never_seen", None)
    candidates: list[tuple[datetime, str]] = []
    if status is not None and status_at is not None:
        candidates.append((status_at, _STAGE_OF_STATUS.get(status, "returned")))
    if assembled_at is not None:
        candidates.append((assembled_at, "assembled"))
    if loaded_at is not None:
        candidates.append((loaded_at, "in_load"))
    if assembling_since is not None and all(at <= assembling_since for at, _ in candidates):
        return Stage("assembling", assembling_since)
    if not candidates:
        return Stage("returned", None)
    since, name = max(candidates)
    return Stage(name, since)


def unsafe_load(load_status: str | None) -> bool:
    """A use from this load reached a patient unsafely: it failed, is quarantined, or was
    never released (rule 7 of hub/domain/rules.py, read back for the cases page)."""
    return load_status in UNRELEASED


def event_time(event_key: str | None) -> datetime | None:
    """The event time an event key starts with (``<ISO time>|<agent>|<incarnation>|<seq>``)."""
    if not event_key:
        return None
    at = datetime.fromisoformat(event_key.split("|", 1)[0])
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
