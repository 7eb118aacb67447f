"""What the person at the station is told about each scan, and where it is shown.

The outcome set is fixed and documented in docs/feedback.md. A sink shows a result; it
never decides one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from agent.session import StationState
from protocol.vocabulary import Outcome


@dataclass(frozen=True)
class Feedback:
    outcome: Outcome
    message: str
    seq: int | None = None
    event_id: str | None = None
    kind: str | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)
    station: StationState | None = None  # the station after this scan, for displays

    @property
    def session_items(self) -> int:
        session = self.station.session if self.station else None
        return len(session.items) - 1 if session else 0

    @property
    def kept(self) -> bool:
        return self.outcome is Outcome.KEPT

    def as_dict(self) -> dict[str, Any]:
        # Not dataclasses.asdict: it would deep-copy the session's items on every scan.
        data: dict[str, Any] = {
            "outcome": self.outcome.value,
            "message": self.message,
            "seq": self.seq,
            "event_id": self.event_id,
            "kind": self.kind,
            "warnings": list(self.warnings),
            "kept": self.kept,
            "station": None,
        }
        state = self.station
        if state is not None:
            data["station"] = {
                "mode": state.mode,
                "operator": state.operator,
                "session_kind": state.session.kind if state.session else None,
                "session_key": state.session.key if state.session else None,
                "session_items": self.session_items,
            }
        return data


class FeedbackSink(Protocol):
    def show(self, feedback: Feedback) -> None: ...


class Fanout:
    """Shows each result on every sink; a broken buzzer must never lose a scan's answer."""

    def __init__(self, sinks: list[FeedbackSink]) -> None:
        self._sinks = sinks
        self._log = structlog.get_logger("agent.feedback")

    def show(self, feedback: Feedback) -> None:
        for sink in self._sinks:
            try:
                sink.show(feedback)
            except Exception as exc:  # a display fault is logged, the scan stays kept
                self._log.error("feedback.sink_failed", sink=type(sink).__name__, error=str(exc))


class LogSink:
    """Writes each result as a structured log event (journald in production)."""

    def __init__(self) -> None:
        self._log = structlog.get_logger("agent.feedback")

    def show(self, feedback: Feedback) -> None:
        level = self._log.info if feedback.kept else self._log.warning
        level("scan.feedback", outcome=feedback.outcome.value, seq=feedback.seq, kind=feedback.kind)
