"""Replaying a dead letter once its cause is fixed (a hub upgraded to read a newer agent's
payload, a column widened): its kept payload goes through the same triage and the same
scan log as a message from the broker, once.

Rules:
1. Only a scan batch kept whole is replayed. A status or heartbeat is stale by the time
   anyone replays it, and a payload cut to the dead letter's limit (or not UTF-8) is no
   longer what the agent sent.
2. A letter whose payload triage still refuses stays a dead letter; the answer gives the
   reason as triage gives it now.
3. Its scans are stored as any arriving scans: duplicates of scans the agent has since
   re-sent are ignored, a seq stored with other content is a conflict and the stored one
   is kept, and new contiguous scans join the projection queue. The agent learns its new
   watermark from the next ack the hub sends it.
4. The letter is marked replayed, with who and what came of it, in the same transaction as
   the scans and an audit entry: a second replay is refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.errors import NotReplayed
from hub.ingest import inbox
from hub.ingest.fleet import Fleet
from hub.ingest.triage import Message, triage
from hub.store.audit_chain import append, encode_detail
from hub.store.tables import dead_letters


@dataclass(frozen=True)
class Replayed:
    dead_letter_id: int
    agent_id: str | None
    stored: int  # scans new to the log
    duplicates: int  # already stored, with the same content
    conflicts: int  # the same seq stored with other content: the stored one is kept


def replayer(prefix: str) -> Callable[[Connection, int, str, datetime], dict[str, Any] | None]:
    """``replay`` for topics under ``prefix``, as the API takes it (it does not import ingest)."""

    def run(conn: Connection, letter_id: int, by: str, now: datetime) -> dict[str, Any] | None:
        done = replay(conn, letter_id, prefix, by, now)
        return asdict(done) if done is not None else None

    return run


def replay(
    conn: Connection, letter_id: int, prefix: str, by: str, now: datetime
) -> Replayed | None:
    """Replay one dead letter for the actor ``by``; None when there is none. Raises
    ``NotReplayed``. The caller commits."""
    d = dead_letters.c
    # The UPDATE comes first: it claims the letter and, on SQLite, takes the write lock
    # before anything is read (audit_chain.py); a refused replay rolls back with it.
    claimed = conn.execute(
        dead_letters.update()
        .where(d.id == letter_id, d.replayed_at.is_(None))
        .values(replayed_at=now, replayed_by=by)
    )
    letter = conn.execute(sa.select(dead_letters).where(d.id == letter_id)).first()
    if letter is None:
        return None
    if claimed.rowcount != 1:
        raise NotReplayed(
            "replayed_already", f"dead letter {letter_id} was replayed by {letter.replayed_by}"
        )
    payload = letter.payload.encode("utf-8")
    if len(payload) != letter.payload_bytes:
        raise NotReplayed(
            "payload_not_kept_whole",
            f"only part of its payload was kept ({len(payload)} of {letter.payload_bytes} "
            "bytes, or not UTF-8): it is no longer what the agent sent",
        )
    work = triage([Message(letter.topic, payload, 0, 1, -1, now)], prefix)
    if work.dead:
        refused = work.dead[0]
        raise NotReplayed("still_refused", f"still refused: {refused.reason}: {refused.detail}")
    if not work.scans:
        raise NotReplayed(
            "not_a_scan_batch", "only scan batches are replayed: a status or heartbeat is stale"
        )
    fleet = Fleet(skew_alert_s=float("inf"))  # only its stored clock estimates are used
    stored = inbox.store(conn, work.scans, now, lambda event: fleet.event_at(conn, event))
    result = Replayed(
        letter_id,
        letter.agent_id,
        len(stored.new),
        stored.duplicates,
        len(work.conflicts) + len(stored.conflicts),
    )
    conn.execute(
        dead_letters.update()
        .where(d.id == letter_id)
        .values(replay_result=json.dumps(asdict(result)))
    )
    append(conn, [_entry(letter_id, by, now, asdict(result))])
    return result


def _entry(letter_id: int, by: str, now: datetime, detail: dict[str, Any]) -> dict[str, Any]:
    return {
        "at": now,
        "actor": by,
        "action": "dead_letter.replay",
        "entity": "dead_letter",
        "entity_key": str(letter_id),
        "cause": None,
        "detail": encode_detail(detail),
    }
