"""The agent's composition root: the one place that wires adapters together."""

from __future__ import annotations

import queue
from collections.abc import Callable
from typing import Any, TextIO

from agent import __version__
from agent.app import AgentApp
from agent.clock import Clock, SystemClock
from agent.decode import Frame, Read
from agent.feedback import Fanout, Feedback, FeedbackSink, LogSink
from agent.intake import Intake
from agent.mqtt import MqttLink
from agent.outbox import OutboxReader, OutboxStore
from agent.reference import ReferencePuller, ReferenceStore
from agent.sender import Sender
from agent.settings import AgentSettings, EvdevScanner, SerialScanner
from agent.sources import ScannerSource
from agent.sources.evdev_source import EvdevSource
from agent.sources.serial_source import SerialSource
from agent.sources.socket_source import SCAN_TIMEOUT_S, SocketSource
from agent.station import Station
from agent.sterilizer.recorder import META_KEY, Recorder
from agent.sterilizer.source import SterilizerSource
from agent.sterilizer.verdicts import FailedLoadNotices
from protocol.messages import AgentStatus

NS_PER_DAY = 86_400 * 10**9
RENUMBER_TIMEOUT_S = 120  # one transaction over the whole backlog, behind queued scans


def bootstrap(
    settings: AgentSettings,
    clock: Clock | None = None,
    sink: FeedbackSink | None = None,
    display: TextIO | None = None,
) -> AgentApp:
    """Build a ready-to-start agent. Opens the outbox (it must know its incarnation)."""
    clock = clock or SystemClock(
        trusted=settings.station.clock == "host",
        error_file=settings.faults.clock_error_file,
        synced=settings.faults.ntp_synced,
    )
    store = OutboxStore(settings.outbox_path, settings.outbox.max_bytes)
    store.open_or_recover()
    events: queue.Queue[Any] = queue.Queue()
    station = Station(
        name=settings.station.name,
        mode=settings.station.mode,
        rules=settings.decode,
        badge_required=settings.station.badge_required,
        idle_logout_s=settings.station.idle_logout_s,
        allow_mode_change=settings.station.allow_mode_change,
    )

    # The sender and app refer to each other through these late-bound callables.
    app: AgentApp

    sender = Sender(
        agent_id=settings.agent_id,
        incarnation=store.incarnation,
        topic_prefix=settings.mqtt.topic_prefix,
        settings=settings.delivery,
        reader_factory=lambda: OutboxReader(store.path),
        confirm=lambda seq: intake.confirm(seq),
        renumber=lambda: intake.renumber().result(timeout=RENUMBER_TIMEOUT_S),
        online_status=lambda: app.status_message("online"),
        health=lambda state: app.health_message(state),
        events=events,
    )
    port = settings.sterilizer
    recorder = Recorder(port, settings.decode, store.meta(META_KEY)) if port else None
    shown = sink or _sinks(settings, display)
    verdicts = FailedLoadNotices(
        recorder.key if recorder else None, lambda: intake.current_state(), shown
    )
    reference = ReferencePuller(
        settings.reference, ReferenceStore(settings.reference_path), verdicts.update
    )
    intake = Intake(
        agent_id=settings.agent_id,
        store=store,
        station=station,
        clock=clock,
        sink=shown,
        on_kept=sender.notify_kept,
        retention_ns=int(settings.outbox.retention_days * NS_PER_DAY),
        catalog=lambda: reference.catalog,
        recorder=recorder,
        verdicts=verdicts,
    )

    def submit(text: str, scanner_id: str) -> Feedback:
        return intake.submit(text, scanner_id).result(timeout=SCAN_TIMEOUT_S)

    def deliver(frame: Frame, scanner_id: str) -> None:
        # Readers never wait for the commit: the intake queue keeps their order.
        if isinstance(frame, Read):
            intake.submit(frame.text, scanner_id)
        else:
            intake.submit_bad(frame.reason, frame.text, scanner_id)

    scanners = [_scanner(s, deliver, settings.reopen_max_s) for s in settings.scanners]
    if port is not None:
        scanners.append(
            SterilizerSource(port, intake.submit_lines, intake.submit_quiet, settings.reopen_max_s)
        )
    link = MqttLink(
        settings.mqtt, settings.agent_id, _offline(settings), events, on_notice=reference.notice
    )
    socket = SocketSource(settings.socket_path, submit, lambda: app.status())
    app = AgentApp(settings, store, intake, sender, link, socket, clock, reference, scanners)
    return app


def _sinks(settings: AgentSettings, display: TextIO | None) -> FeedbackSink:
    sinks: list[FeedbackSink] = [LogSink()]
    if display is not None:
        from agent.sinks.display import TerminalDisplay

        sinks.append(TerminalDisplay(settings.station.name, display))
    if settings.gpio is not None:
        from agent.sinks.gpio import GpioSink

        sinks.append(GpioSink(settings.gpio))
    return Fanout(sinks)


def _scanner(
    config: SerialScanner | EvdevScanner, deliver: Callable[[Frame, str], None], reopen_max_s: float
) -> ScannerSource:
    if isinstance(config, SerialScanner):
        return SerialSource(config, deliver, reopen_max_s)
    return EvdevSource(config, deliver, reopen_max_s)


def _offline(settings: AgentSettings) -> AgentStatus:
    return AgentStatus(
        agent_id=settings.agent_id,
        state="offline",
        version=__version__,
        station=settings.station.name,
        mode=settings.station.mode,
    )
