"""Each agent's clock offset, per agent and boot (DESIGN.md §6). Pure: values in, values out.

A sample is the heartbeat's arrival time, stamped in paho's callback, minus the agent's
``sent_at``: the clock error plus the time the message spent in transit. Transit is never
negative and only sometimes long (a busy broker, a hub that stopped reading), so the
estimate is the smallest sample of the last ``WINDOW_S`` seconds, as NTP's clock filter
keeps its lowest-delay sample. A reboot starts a new clock (a Pi has no RTC), so every
boot has its own estimate. Only an offset beyond the alert threshold corrects scan times;
below it the agent's own timestamps are kept exactly.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime

WINDOW_S = 300.0

BootKey = tuple[str, str]  # (agent, boot)


@dataclass(frozen=True)
class Estimate:
    offset_s: float  # hub time minus agent time
    skewed: bool  # beyond the threshold: scans are corrected and an alert is raised

    def correction_s(self) -> float:
        return self.offset_s if self.skewed else 0.0


class Clocks:
    def __init__(self, skew_alert_s: float) -> None:
        self._skew_alert_s = skew_alert_s
        self._samples: dict[BootKey, deque[tuple[datetime, float]]] = {}

    def sample(self, key: BootKey, sent_at: datetime, arrived_at: datetime) -> Estimate:
        samples = self._samples.setdefault(key, deque())
        samples.append((arrived_at, (arrived_at - sent_at).total_seconds()))
        while samples and (arrived_at - samples[0][0]).total_seconds() > WINDOW_S:
            samples.popleft()
        offset = min(s for _, s in samples)
        return Estimate(offset, abs(offset) > self._skew_alert_s)
