"""Each agent's clock offset, per agent and boot (DESIGN.md §6). Pure: values in, values out.

A sample is the heartbeat's arrival time, stamped in paho's callback, minus the agent's
``sent_at``: the clock error plus the time the message spent in transit. Transit is never
negative and only sometimes long (a busy broker, a hub that stopped reading), so the
estimate is the smallest sample of the last ``WINDOW_S`` seconds, as NTP's clock filter
keeps its lowest-delay sample. A reboot starts a new clock (a Pi has no RTC), so every
boot has its own estimate.

A wall clock also steps within a boot: NTP setting a Pi that booted a day wrong, or a
person setting it an hour back. The monotonic clock never steps, so each heartbeat also
gives the hub's time minus the agent's monotonic time; its smallest recent value
(``boot_offset_s``) turns any scan of that boot into the hub's time at the moment it was
taken, whatever the wall clock said then. A step shows as a change in the heartbeat's
wall minus monotonic time (transit cannot change it); the wall offset then starts again
from the samples after the step, so the alert says how wrong the clock is now. Before
this, the smallest sample held a day-wrong offset for five minutes after NTP fixed the
clock, and every scan in them was put a day in the past.

A scan taken while its station's clock was synced (NTP, as the kernel says) keeps its own
time: the hub's clock is no better a reference than NTP, and when it is the hub's clock that
is wrong (stepped by a person, or by NTP correcting it) correcting synced stations by it
would move every scan of the site. Otherwise only a scan whose own time is more than the
alert threshold off the hub's is corrected; below it the agent's timestamps are kept
exactly. (A clock set by hand is unsynced until NTP sets it again: setting the time clears
the kernel's sync state.)

The hub's own clock steps too. Each sample is stamped with the hub's monotonic time beside
its wall time; when the hub's wall minus monotonic time moves more than ``STEP_S``, every
sample so far measured against a hub clock that is no longer there and is dropped, so an
unsynced station is corrected by the hub's clock as it is now, not for up to five minutes
by the one before the step (a step back shows at once in the smallest sample anyway, and
one forward by more than the window ages the old samples out by itself).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

WINDOW_S = 300.0
STEP_S = 1.0  # wall minus monotonic moving more than this: the wall clock stepped

BootKey = tuple[str, str]  # (agent, boot)


@dataclass(frozen=True)
class Estimate:
    offset_s: float  # hub time minus agent wall time, since the wall clock last stepped
    skewed: bool  # beyond the threshold: an alert is raised
    boot_offset_s: float | None = None  # hub time minus the agent's monotonic time


def event_time(
    estimate: Estimate | None,
    scanned_at: datetime,
    monotonic_ns: int,
    synced: bool,
    threshold_s: float,
) -> datetime:
    """When a scan was taken: its own time if its station's clock was synced, or unless the
    hub knows its boot's monotonic offset and that puts the scan more than ``threshold_s``
    elsewhere by the hub's clock."""
    if synced or estimate is None or estimate.boot_offset_s is None:
        return scanned_at
    hub_time = datetime.fromtimestamp(estimate.boot_offset_s + monotonic_ns / 1e9, UTC)
    if abs((scanned_at - hub_time).total_seconds()) <= threshold_s:
        return scanned_at
    return hub_time


@dataclass
class _Boot:
    wall: deque[tuple[datetime, float]] = field(default_factory=deque)
    mono: deque[tuple[datetime, float]] = field(default_factory=deque)
    epoch_s: float | None = None  # the agent's wall minus monotonic time, last heartbeat


class Clocks:
    def __init__(self, skew_alert_s: float) -> None:
        self._skew_alert_s = skew_alert_s
        self._boots: dict[BootKey, _Boot] = {}
        self._hub_epoch_s: float | None = None  # the hub's wall minus monotonic time

    def sample(
        self,
        key: BootKey,
        sent_at: datetime,
        arrived_at: datetime,
        monotonic_ns: int,
        hub_monotonic_ns: int | None = None,
    ) -> Estimate:
        """``hub_monotonic_ns``: the hub's monotonic clock when ``arrived_at`` was read."""
        if hub_monotonic_ns is not None:
            self._hub_steps(arrived_at.timestamp() - hub_monotonic_ns / 1e9)
        boot = self._boots.setdefault(key, _Boot())
        mono_s = monotonic_ns / 1e9
        epoch = sent_at.timestamp() - mono_s
        if boot.epoch_s is not None and abs(epoch - boot.epoch_s) > STEP_S:
            boot.wall.clear()  # they measured a wall clock that is no longer there
        boot.epoch_s = epoch
        boot.wall.append((arrived_at, (arrived_at - sent_at).total_seconds()))
        boot.mono.append((arrived_at, arrived_at.timestamp() - mono_s))
        horizon = arrived_at - timedelta(seconds=WINDOW_S)
        for samples in (boot.wall, boot.mono):
            while samples and samples[0][0] < horizon:
                samples.popleft()
        offset = min(s for _, s in boot.wall)
        return Estimate(offset, abs(offset) > self._skew_alert_s, min(s for _, s in boot.mono))

    def _hub_steps(self, epoch_s: float) -> None:
        if self._hub_epoch_s is not None and abs(epoch_s - self._hub_epoch_s) > STEP_S:
            for boot in self._boots.values():
                boot.wall.clear()
                boot.mono.clear()
        self._hub_epoch_s = epoch_s
