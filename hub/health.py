"""The writer's health as ``/healthz`` and ``/api/v1/status`` report it: written by the
ingest writer, read by the web layer, so it lives with neither."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass
class WriterHealth:
    """What ``/healthz`` reports; written by the writer thread only."""

    database: str = "ok"  # ok | unavailable
    error: str | None = None
    since: datetime | None = None
    set_aside: int = 0  # scans the projector could not apply, since start
    hub: str = ""  # this hub's name among the hubs (hub/cluster/leadership.py)
    role: str = "leader"  # leader | follower: whether it is the one that projects
