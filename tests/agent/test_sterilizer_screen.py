"""The hub's verdict on a load reaches the station's screen (agent/sterilizer/verdicts.py):
STOP, which load and why, once per load, at the station beside that sterilizer."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from agent.catalog import Catalog
from agent.feedback import Feedback
from agent.session import StationState
from agent.sinks.display import TerminalDisplay, render
from agent.sterilizer.verdicts import FailedLoadNotices
from protocol.reference import FailedLoad, ReferenceSnapshot
from protocol.vocabulary import Outcome

FAILED = FailedLoad(
    key="load-1",
    label="STE-A1.1043",
    sterilizer="site:STE-A1",
    reason="exposure held at 132 °C or above for 2 min 29 s; 4 min needed",
)
ELSEWHERE = FailedLoad(key="load-2", label="STE-B2.7", sterilizer="site:STE-B2", reason="aborted")


def _catalog(*failed: FailedLoad) -> Catalog:
    return Catalog(ReferenceSnapshot(built_at=datetime.now(UTC), failed_loads=failed))


def test_a_load_its_record_failed_is_shown_once_as_stop_with_the_reason() -> None:
    """The snapshot naming a failed load on this station's sterilizer puts STOP on the
    screen with the load and why; the next snapshot naming it again says nothing more;
    another sterilizer's failed load is not this station's news."""
    shown: list[Feedback] = []

    class Sink:
        def show(self, feedback: Feedback) -> None:
            shown.append(feedback)

    state = StationState(mode="sterilizer")
    notices = FailedLoadNotices("site:STE-A1", lambda: state, Sink())
    notices.update(_catalog(FAILED, ELSEWHERE))
    notices.update(_catalog(FAILED, ELSEWHERE))
    assert [f.outcome for f in shown] == [Outcome.BLOCKED]
    assert "Load STE-A1.1043 FAILED the sterilizer's record" in shown[0].message
    assert "2 min 29 s; 4 min needed" in shown[0].message
    assert notices.last == shown[0].message
    screen = render("Sterilizer 1", shown[0])
    assert "Do not release it" in screen and "██" in screen  # the big STOP
    out = io.StringIO()
    TerminalDisplay("Sterilizer 1", out).show(shown[0])
    assert "STE-A1.1043" in out.getvalue()
