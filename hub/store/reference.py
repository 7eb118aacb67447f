"""What a station needs to give feedback offline, read from the records and reference
tables in one transaction (protocol/reference.py is the shape)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.domain.rules import UNRELEASED, blocked_reason  # pure: the blocked rule
from hub.domain.statuses import ItemStatus, SessionKind, SessionStatus
from hub.store.records import (
    cycles,
    items,
    ref_instruments,
    ref_staff,
    ref_trays,
    session_items,
    sessions,
)
from protocol.barcodes import DecodeRules
from protocol.reference import (
    Blocked,
    FailedLoad,
    InstrumentRef,
    ReferenceSnapshot,
    StaffRef,
    TrayRef,
    unsafe_version,
)


def snapshot(conn: Connection, rules: DecodeRules, now: datetime) -> ReferenceSnapshot:
    return ReferenceSnapshot(
        built_at=now,
        instruments=tuple(
            InstrumentRef(key=r.code, name=r.name, category=r.category, implant=r.implant)
            for r in conn.execute(
                sa.select(
                    ref_instruments.c.code,
                    ref_instruments.c.name,
                    ref_instruments.c.category,
                    ref_instruments.c.implant,
                ).order_by(ref_instruments.c.code)
            )
        ),
        trays=tuple(
            TrayRef(key=r.code, name=r.name, recipe=json.loads(r.recipe))
            for r in conn.execute(sa.select(ref_trays).order_by(ref_trays.c.code))
        ),
        blocked=blocked(conn),
        unsafe_version=unsafe_version(unsafe(conn)),
        failed_loads=failed_loads(conn, now),
        open_trays=_open_trays(conn),
        staff=tuple(
            StaffRef(key=r.code, name=r.name, role=r.role)
            for r in conn.execute(sa.select(ref_staff).order_by(ref_staff.c.code))
        ),
        rules=rules,
    )


UNSAFE_LOADS = ("failed", "quarantined", "cancelled")


def unsafe(conn: Connection) -> list[str]:
    """One entry per unsafe item (quarantined, or whose last load failed, is quarantined or
    was cancelled): its key and why, as ``unsafe_version`` digests them. Plain rows, no
    models: the reference notice reads this twice a second while records change."""
    i, c = items.c, cycles.c
    rows = conn.execute(
        sa.select(i.key, i.status, c.status)
        .select_from(items.outerjoin(cycles, c.session_id == i.last_cycle))
        .where(sa.or_(i.status == ItemStatus.QUARANTINED, c.status.in_(UNSAFE_LOADS)))
    )
    entries = [f"{key}\t{status}\t{load_status}" for key, status, load_status in rows]
    # A load its record failed is news for the station beside its sterilizer even when it
    # held nothing: it names the load.
    c = cycles.c
    failed = conn.execute(sa.select(c.session_id).where(c.physical_result == "fail"))
    return entries + [f"load\t{session_id}\tphysical" for session_id in failed.scalars()]


FAILED_LOADS_SHOWN = timedelta(days=1)


def failed_loads(conn: Connection, now: datetime) -> tuple[FailedLoad, ...]:
    """Loads of the last day whose sterilizer's record failed them, newest first."""
    c = cycles.c
    rows = conn.execute(
        sa.select(c.session_id, c.sterilizer, c.cycle_number, c.physical_reason)
        .where(c.physical_result == "fail", c.started_at >= now - FAILED_LOADS_SHOWN)
        .order_by(c.started_key.desc())
    )
    return tuple(
        FailedLoad(
            key=session_id,
            label=_label(sterilizer, number) or session_id,
            sterilizer=sterilizer,
            reason=reason or "",
        )
        for session_id, sterilizer, number, reason in rows
    )


def blocked(conn: Connection) -> tuple[Blocked, ...]:
    """Items quarantined, or whose last load has not released them, with the reason."""
    i, c = items.c, cycles.c
    rows = conn.execute(
        sa.select(i.key, i.status, c.session_id, c.sterilizer, c.cycle_number, c.status)
        .select_from(items.outerjoin(cycles, c.session_id == i.last_cycle))
        .where(sa.or_(i.status == ItemStatus.QUARANTINED, c.status.in_(sorted(UNRELEASED))))
        .order_by(i.key)
    )
    return tuple(
        Blocked(key=key, reason=_reason(status, load, sterilizer, number, load_status))
        for key, status, load, sterilizer, number, load_status in rows
    )


def _reason(
    status: str,
    load: str | None,
    sterilizer: str | None,
    number: str | None,
    load_status: str | None,
) -> str:
    return blocked_reason(status, _label(sterilizer, number) or load, load_status)


def _label(sterilizer: str | None, number: str | None) -> str | None:
    """A load's cycle label as printed: STE-A1.1042."""
    return f"{sterilizer.split(':', 1)[-1]}.{number}" if sterilizer and number else None


def _open_trays(conn: Connection) -> dict[str, str]:
    s, si = sessions.c, session_items.c
    rows = conn.execute(
        sa.select(si.item, s.key)
        .select_from(sessions.join(session_items, si.session_id == s.session_id))
        .where(s.kind == SessionKind.TRAY, s.status == SessionStatus.OPEN, si.action == "add")
        .order_by(s.opened_key)
    )
    return {item: tray for item, tray in rows}
