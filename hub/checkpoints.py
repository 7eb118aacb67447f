"""Named points in ingest and projection where a crash costs the most: after the writes and
before the commit, after the commit and before the acks, and inside a projection step that
applied scans. The product passes straight through them. The fault tests and the chaos matrix
start the hub through ``tests/harness/faulty_hub.py``, which stops the process at one with
SIGKILL, as a power cut would; so no crash switch ships in the product's settings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

Point = Literal["before_commit", "after_commit", "mid_projection"]

# Called with the point and how many times this process reached it (1 = the first).
Checkpoint = Callable[[Point, int], None]


def passing(point: Point, reached: int) -> None:
    """The product's checkpoint: nothing happens there."""
