"""The site's reference notice: when which items are unsafe changes (a load failed, a BI
failed, an implant load is held, a quarantine is lifted), the hub says so on one retained
topic (protocol.topics.reference_topic), and each station pulls its snapshot at once
instead of at its next poll. A quarantine then reaches the OR in about a second. Items in
a load still running are left to the poll: they are in the sterilizer, and they change
with every scan there, which would have every station pull every half second.

The unsafe set can only change when the hub records something: a projection step or a
reference write appends to the audit trail. So the notifier reads the audit trail's newest
id twice a second (the primary key's end, one index read) and reads the unsafe items
(plain rows) only when that moved. It publishes again every ``REPUBLISH_S`` whatever happened, so a
broker that lost its store (its retained messages with it) has the notice back soon.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from hub.store import records
from hub.store.reference import unsafe
from protocol import codec
from protocol.messages import ReferenceNotice
from protocol.reference import unsafe_version
from protocol.topics import REFERENCE_QOS, REFERENCE_RETAIN, reference_topic

log = structlog.get_logger("hub.notice")

CHECK_S = 0.5
REPUBLISH_S = 60.0

Publish = Callable[[str, bytes, int, bool], None]


class BlockedNotice:
    def __init__(self, engine: Engine, publish: Publish, prefix: str) -> None:
        self._engine = engine
        self._publish = publish
        self._topic = reference_topic(prefix)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="notice", daemon=True)
        self._seen_audit: int | None = None
        self._version: str | None = None
        self._published_mono = 0.0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(CHECK_S):
            try:
                self.check()
            except SQLAlchemyError as exc:  # the writer reports the outage; try again
                log.warning("notice.unavailable", error=str(exc)[:200])

    def check(self) -> bool:
        """Publish when the blocked set changed, or when the last notice is old; True when
        it published."""
        now = time.monotonic()
        stale = now - self._published_mono > REPUBLISH_S
        with self._engine.connect() as conn:
            newest = conn.execute(sa.select(sa.func.max(records.audit_log.c.id))).scalar()
            if newest == self._seen_audit and not stale:
                return False
            held = unsafe(conn)
        self._seen_audit = newest
        version = unsafe_version(held)
        if version == self._version and not stale:
            return False
        notice = ReferenceNotice(
            unsafe_version=version, unsafe=len(held), changed_at=datetime.now(UTC)
        )
        self._publish(self._topic, codec.encode(notice), REFERENCE_QOS, REFERENCE_RETAIN)
        if version != self._version:
            log.info("notice.published", unsafe=len(held), version=version)
        self._version = version
        self._published_mono = now
        return True
