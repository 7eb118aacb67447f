"""The running agent: start()/stop() lifecycle and its status document. Nothing else."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from agent import __version__, systemd
from agent.clock import Clock
from agent.intake import Intake
from agent.mqtt import MqttLink
from agent.outbox import OutboxReader, OutboxStats, OutboxStore
from agent.reference import ReferencePuller
from agent.sender import Sender, SenderState
from agent.session import StationState
from agent.settings import AgentSettings
from agent.sources import ScannerSource
from agent.sources.socket_source import SocketSource
from agent.systemd import Watchdog
from protocol.messages import AgentHealth, AgentStatus

log = structlog.get_logger("agent.app")


@dataclass
class AgentApp:
    settings: AgentSettings
    store: OutboxStore
    intake: Intake
    sender: Sender
    link: MqttLink
    socket: SocketSource
    clock: Clock
    reference: ReferencePuller
    scanners: list[ScannerSource] = field(default_factory=list)
    _watchdog: Watchdog | None = None

    def start(self) -> None:
        self.intake.start()
        self.sender.start(self.link, self.store.confirmed_seq, self.store.last_seq)
        self.link.start()
        self.socket.start()
        self.reference.start()
        for scanner in self.scanners:
            scanner.start()
        log.info(
            "agent.started", agent_id=self.settings.agent_id, incarnation=self.store.incarnation
        )
        if self.store.recovered_from is not None:
            log.error("outbox.recovered", **_recovered(self.store) or {})
        interval = systemd.watchdog_interval_s()
        if interval is not None:
            self._watchdog = Watchdog(interval, lambda: self.intake.responsive(interval / 2))
            self._watchdog.start()
        systemd.notify(f"READY=1\nSTATUS=scanning as {self.settings.agent_id}")

    def stop(self) -> None:
        systemd.notify("STOPPING=1")
        if self._watchdog is not None:
            self._watchdog.stop()
        for scanner in self.scanners:
            scanner.stop()
        self.socket.stop()
        self.reference.stop()
        self.sender.stop()
        self.link.stop(last_words=self.status_message("stopped"))
        self.intake.stop()
        self.store.close()
        log.info("agent.stopped")

    def status_message(self, state: str) -> AgentStatus:
        s = self.settings
        return AgentStatus.model_validate(
            {
                "agent_id": s.agent_id,
                "state": state,
                "version": __version__,
                "station": s.station.name,
                "mode": self.intake.state.mode,
                "at": datetime.now(UTC),
            }
        )

    def health_message(self, sender: SenderState) -> AgentHealth:
        stats = self._stats()
        instant = self.clock.now()
        return AgentHealth(
            agent_id=self.settings.agent_id,
            incarnation=stats.incarnation,
            sent_at=instant.wall,
            monotonic_ns=instant.monotonic_ns,
            boot_id=instant.boot_id,
            backlog=stats.backlog,
            oldest_unconfirmed_age_s=_age(stats),
            scanners_connected=sum(1 for s in self.scanners if s.state()["connected"]),
            disk_free_bytes=shutil.disk_usage(self.settings.data_dir).free,
            clock_synced=instant.synced,
            last_confirmed_seq=stats.confirmed_seq,
            alarms=tuple(sorted(self._alarms(sender))),
            reference_age_s=self.reference.age_s(),
        )

    def status(self) -> dict[str, Any]:
        stats = self._stats()
        sender = self.sender.state
        return {
            **describe_store(stats),
            "agent_id": self.settings.agent_id,
            "running": True,
            "connection": "connected" if sender.connected else "disconnected",
            "broker_acked_seq": sender.broker_acked_seq,
            "resends": sender.resends,
            "events_sent": sender.events_sent,
            "last_ack_at": sender.last_ack_at.isoformat() if sender.last_ack_at else None,
            "store_full": self.intake.store_full,
            "alarms": sorted(self._alarms(sender)),
            "station": self.settings.station.name,
            **describe_station(self.intake.current_state()),
            "scanners": [s.state() for s in self.scanners],
            "reference": self.reference.status(),
            "recovered": _recovered(self.store),
            "sterilizer": self.intake.sterilizer_status(),
        }

    def _alarms(self, sender: SenderState) -> set[str]:
        alarms = set(sender.alarms)
        if self.intake.store_full:
            alarms.add("store_full")
        if self.store.recovered_from is not None:
            alarms.add("store_corrupt_recovered")
        if self.reference.stale():
            alarms.add("reference_stale")
        if self.intake.readings_lost:
            alarms.add("sterilizer_readings_lost")
        return alarms

    def _stats(self) -> OutboxStats:
        reader = OutboxReader(self.store.path)
        try:
            return reader.stats()
        finally:
            reader.close()


def describe_store(stats: OutboxStats) -> dict[str, Any]:
    """The outbox half of the status document; ``status`` uses it alone when no agent runs."""
    return {
        "incarnation": stats.incarnation,
        "last_seq": stats.last_seq,
        "last_confirmed_seq": stats.confirmed_seq,
        "backlog": stats.backlog,
        "oldest_unconfirmed_age_s": _age(stats),
        "store_bytes": stats.size_bytes,
    }


def describe_station(state: StationState) -> dict[str, Any]:
    session = state.session
    return {
        "mode": state.mode,
        "operator": state.operator,
        "session": None
        if session is None
        else {
            "id": session.id,
            "kind": session.kind,
            "key": session.key,
            "items": len(session.items),
        },
    }


def _recovered(store: OutboxStore) -> dict[str, Any] | None:
    """A corrupt outbox set aside at start: where it is, and what came over from it."""
    salvage = store.recovered_from
    if salvage is None:
        return None
    return {"aside": str(salvage.aside), "kept": salvage.kept, "unreadable": salvage.unreadable}


def _age(stats: OutboxStats) -> float | None:
    if stats.oldest_unconfirmed_ns is None:
        return None
    return max(0.0, (time.time_ns() - stats.oldest_unconfirmed_ns) / 1e9)
