"""Feedback sinks: the station display, the GPIO buzzer/LEDs and the fan-out between them."""

from __future__ import annotations

import io
from collections.abc import Callable

from gpiozero.pins.mock import MockFactory, MockPin

from agent.feedback import Fanout, Feedback
from agent.session import Session, StationState
from agent.settings import GpioSettings
from agent.sinks.display import TerminalDisplay, big, render
from agent.sinks.gpio import GpioSink
from protocol.vocabulary import Outcome
from tests.harness.waiting import wait_for

STATE = StationState(
    mode="tray_assembly",
    operator="site:USR-42",
    session=Session("e1", "tray", "site:TRY-7", frozenset({"site:TRY-7", "a", "b"})),
)


def test_display_shows_mode_operator_session_count_and_big_result() -> None:
    """The screen names the mode, operator, open session with its item count, and the result."""
    feedback = Feedback(Outcome.DUPLICATE, "Already scanned in this tray.", station=STATE)
    screen = render("Tray bench 1", feedback)
    assert "mode: tray assembly" in screen and "operator: site:USR-42" in screen
    assert "open tray: site:TRY-7    items: 2" in screen
    assert "\n".join(" " + row for row in big("DUPLICATE")) in screen
    assert screen.rstrip().endswith("Already scanned in this tray.")


def test_display_colours_kept_green_and_refused_red() -> None:
    """A kept scan is drawn green, a refused one red, each after clearing the screen."""
    out = io.StringIO()
    display = TerminalDisplay("Bench", out)
    display.show(Feedback(Outcome.KEPT, "Tray TRY-7", station=STATE))
    display.show(Feedback(Outcome.BADGE_FIRST, "Scan your badge first."))
    first, second = out.getvalue().split("\x1b[2J\x1b[H")[1:]
    assert "\x1b[32;1m" in first and "\x1b[31;1m" in second


def test_big_letters_are_five_rows_of_equal_width() -> None:
    """Every headline renders as five rows of the same width."""
    rows = big("BAD READ")
    assert len(rows) == 5 and len({len(r) for r in rows}) == 1 and "██" in rows[0]


def test_gpio_sink_lights_green_for_kept_and_red_with_beeps_for_refused() -> None:
    """On gpiozero's mock pins: kept lights the green LED, refused the red one, and the
    buzzer sounds three times for a refusal."""
    factory = MockFactory()
    settings = GpioSettings(beep_s=0.01)
    sink = GpioSink(settings, pin_factory=factory)
    buzzer = factory.pin(settings.buzzer_pin)
    green = factory.pin(settings.green_led_pin)
    red = factory.pin(settings.red_led_pin)

    def lit(pin: MockPin, times: int) -> Callable[[], None]:
        """The pin went on ``times`` times and is off again: its blinking is over."""

        def check() -> None:
            assert [s.state for s in pin.states].count(True) == times and not pin.state

        return check

    try:
        sink.show(Feedback(Outcome.KEPT, "ok"))
        wait_for(lit(green, 1), timeout=5)
        wait_for(lit(buzzer, 1), timeout=5)  # finished: clear_states keeps the current state
        lit(red, 0)()
        buzzer.clear_states()
        sink.show(Feedback(Outcome.BAD_READ, "bad"))
        wait_for(lit(red, 1), timeout=5)
        wait_for(lit(buzzer, 3), timeout=5)
    finally:
        sink.close()


def test_fanout_survives_a_broken_sink() -> None:
    """A sink that raises is logged and skipped; the next sink still shows the result."""

    class Broken:
        def show(self, feedback: Feedback) -> None:
            raise OSError("display unplugged")

    out = io.StringIO()
    Fanout([Broken(), TerminalDisplay("Bench", out)]).show(Feedback(Outcome.KEPT, "fine"))
    assert "fine" in out.getvalue()
