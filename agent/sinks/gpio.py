"""A buzzer and two LEDs on the Pi's GPIO, through gpiozero (imported only when configured).

Kept: one short beep and the green LED. Refused: three beeps and the red LED. Everything
runs in gpiozero's background threads, so the intake thread never waits for a beep.
"""

from __future__ import annotations

from typing import Any

from agent.feedback import Feedback
from agent.settings import GpioSettings


class GpioSink:
    def __init__(self, settings: GpioSettings, pin_factory: Any = None) -> None:
        from gpiozero import LED, Buzzer

        self._buzzer = Buzzer(settings.buzzer_pin, pin_factory=pin_factory)
        self._green = LED(settings.green_led_pin, pin_factory=pin_factory)
        self._red = LED(settings.red_led_pin, pin_factory=pin_factory)
        self._on_s = settings.beep_s

    def show(self, feedback: Feedback) -> None:
        led, other, beeps = (
            (self._green, self._red, 1) if feedback.kept else (self._red, self._green, 3)
        )
        other.off()
        led.blink(on_time=self._on_s * 4, off_time=0, n=1, background=True)
        self._buzzer.beep(on_time=self._on_s, off_time=self._on_s, n=beeps, background=True)

    def close(self) -> None:
        for device in (self._buzzer, self._green, self._red):
            device.close()
