"""The audit trail stays one chain when several writers append at once on PostgreSQL (the
projector's own thread, the API's writes, other hub processes)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from hub.store import audit_chain
from hub.store.db import create_engine, migrate
from tests.harness.postgres import Postgres


def test_writers_appending_at_once_on_postgresql_keep_one_verifiable_chain(
    postgres: Postgres,
) -> None:
    engine = create_engine(postgres.create_database())
    migrate(engine)
    start = threading.Barrier(4)

    def writer(name: str) -> None:
        start.wait()
        for n in range(40):
            with engine.begin() as conn:
                audit_chain.append(
                    conn,
                    [
                        {
                            "at": datetime.now(UTC),
                            "actor": name,
                            "action": "test",
                            "entity": "item",
                            "entity_key": f"site:{name}-{n}",
                            "cause": None,
                            "detail": "{}",
                        }
                    ],
                )

    threads = [threading.Thread(target=writer, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    verdict = audit_chain.verify(engine)
    engine.dispose()
    assert verdict.entries == 160
    assert verdict.ok, verdict.reason
