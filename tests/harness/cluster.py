"""Several hubs on one PostgreSQL behind one broker, each its own process, sharing one
subscription (docs/cluster.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from tests.harness.processes import HubProcess

GROUP = "hubs"


class Cluster:
    def __init__(
        self,
        work: Path,
        database_url: str,
        broker_port: int,
        size: int = 3,
        extra: dict[str, dict[str, Any]] | None = None,
        ports: dict[int, int] | None = None,
    ) -> None:
        """``ports``: a broker port of its own for some hubs, by number (a listener a test
        may cut)."""
        self.database_url = database_url
        self.hubs = [
            HubProcess(
                work / f"hub-{n}",
                database_url,
                (ports or {}).get(n, broker_port),
                extra={
                    "cluster": {"shared_group": GROUP, "hub_name": f"hub-{n}"},
                    **(extra or {}),
                },
            )
            for n in range(size)
        ]

    def start(self) -> None:
        for hub in self.hubs:
            hub.start()

    def stop(self) -> None:
        for hub in self.hubs:
            hub.stop()

    def running(self) -> list[HubProcess]:
        return [hub for hub in self.hubs if hub.proc is not None]

    def named(self, name: str) -> HubProcess:
        return self.hubs[int(name.rsplit("-", 1)[1])]

    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = self.running()[0].get("/api/v1/status")
        return status

    def leader(self) -> HubProcess:
        """The leading hub; an AssertionError (for ``wait_for``) while none leads."""
        name = self.status()["leader"]
        assert name is not None, "no hub leads yet"
        hub = self.named(name)
        assert hub.proc is not None, f"{name} is named leader but is not running"
        return hub

    def stored(self) -> dict[str, tuple[int, int, int]]:
        """Per agent: scans stored, distinct seqs, the highest seq (one incarnation each)."""
        url = self.database_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(url) as conn:
            rows = conn.execute(
                "SELECT agent_id, count(*), count(DISTINCT seq), max(seq) FROM scan_log "
                "GROUP BY agent_id"
            ).fetchall()
        return {agent: (total, distinct, top) for agent, total, distinct, top in rows}
