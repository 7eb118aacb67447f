"""The event stream a scanner in keyboard-wedge mode sends: real ``evdev.InputEvent``
objects, a millisecond apart."""

from __future__ import annotations

from evdev import InputEvent, ecodes

from agent.decode.keymap import LAYOUTS

E = ecodes


class Keyboard:
    """Makes the event stream a scanner in keyboard-wedge mode would send."""

    def __init__(self) -> None:
        self.t = 1_700_000_000.0
        self.events: list[InputEvent] = []

    def _ev(self, etype: int, code: int, value: int) -> None:
        self.t += 0.001
        sec = int(self.t)
        self.events.append(InputEvent(sec, int((self.t - sec) * 1e6), etype, code, value))

    def press(self, code: int) -> Keyboard:
        self._ev(E.EV_KEY, code, 1)
        self._ev(E.EV_SYN, E.SYN_REPORT, 0)
        return self

    def release(self, code: int) -> Keyboard:
        self._ev(E.EV_KEY, code, 0)
        self._ev(E.EV_SYN, E.SYN_REPORT, 0)
        return self

    def tap(self, code: int, *modifiers: int) -> Keyboard:
        for m in modifiers:
            self.press(m)
        self.press(code).release(code)
        for m in reversed(modifiers):
            self.release(m)
        return self

    def type(self, text: str, layout: str = "us") -> Keyboard:
        reverse: dict[str, tuple[int, bool]] = {}
        for code, (normal, shifted) in LAYOUTS[layout].items():
            reverse.setdefault(normal, (code, False))
            reverse.setdefault(shifted, (code, True))
        for char in text:
            code, shift = reverse[char]
            self.tap(code, *([E.KEY_LEFTSHIFT] if shift else []))
        return self

    def enter(self) -> Keyboard:
        return self.tap(E.KEY_ENTER)

    def dropped(self) -> Keyboard:
        """The kernel's buffer overflowed: SYN_DROPPED, then the report that closes it."""
        self._ev(E.EV_SYN, E.SYN_DROPPED, 0)
        self._ev(E.EV_SYN, E.SYN_REPORT, 0)
        return self
