"""A sterilizer's own record of a cycle, as the wire speaks it (issue 32): the phases a
cycle goes through and one reading of its physical monitors.

Only the vocabulary so far: the agent's serial source, its topic and payload model, and
the hub's attaching a cycle to its load are not built yet (docs/sterilizers.md).
"""

from __future__ import annotations

from enum import StrEnum


class Phase(StrEnum):
    """A cycle's phases in the order a sterilizer runs them; ``aborted`` may end any."""

    START = "start"
    CONDITIONING = "conditioning"
    EXPOSURE = "exposure"
    EXHAUST = "exhaust"
    DRY = "dry"
    COMPLETE = "complete"
    ABORTED = "aborted"
