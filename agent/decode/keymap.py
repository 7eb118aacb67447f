"""Keyboard-wedge scanners: evdev key events in, reads out. Sans-IO.

Rules:
1. Key-down (value 1) and autorepeat (2) type; key-up (0) only releases modifiers.
2. Shift (left or right) selects the shifted character; CapsLock toggles on key-down and
   inverts the case of letters only. AltGr (right Alt) selects the third level (DE, FR).
3. Ctrl+] (the ``]`` key position of a US board) is GS (0x1D), the GS1 separator.
   Alt held while typing keypad digits enters that character code (Alt+029 is GS).
4. Enter or keypad Enter ends a read (or Tab, or a pause, as configured).
5. ``SYN_DROPPED``: the kernel lost events, so the code being typed is corrupt. It is
   discarded and counted, modifiers are reset, and keys are ignored until the code's
   terminator or a pause of the idle timeout (its terminator may have been lost too).
6. A key with no character in the layout is counted and ignored.

The decoder reads ``type``, ``code``, ``value`` and ``timestamp()`` from each event, which
real ``evdev.InputEvent`` objects provide; it does not import evdev.
"""

from __future__ import annotations

from typing import Literal, Protocol

from agent.decode import Frame, Read

Layout = Literal["us", "uk", "de", "fr"]
Terminator = Literal["enter", "tab", "timeout"]

EV_SYN, EV_KEY = 0, 1
SYN_REPORT, SYN_DROPPED = 0, 3
KEY_TAB, KEY_ENTER, KEY_KPENTER = 15, 28, 96
KEY_LEFTSHIFT, KEY_RIGHTSHIFT, KEY_CAPSLOCK = 42, 54, 58
KEY_LEFTCTRL, KEY_RIGHTCTRL, KEY_LEFTALT, KEY_RIGHTALT = 29, 97, 56, 100
KEY_RIGHTBRACE = 27
KEYPAD_DIGITS = {82: 0, 79: 1, 80: 2, 81: 3, 75: 4, 76: 5, 77: 6, 71: 7, 72: 8, 73: 9}
GS = "\x1d"


class KeyEvent(Protocol):
    type: int
    code: int
    value: int

    def timestamp(self) -> float: ...


def _row(codes: range | list[int], normal: str, shifted: str) -> dict[int, tuple[str, str]]:
    return {code: (n, s) for code, n, s in zip(codes, normal, shifted, strict=True)}


_LETTER_CODES = {
    "q": 16, "w": 17, "e": 18, "r": 19, "t": 20, "y": 21, "u": 22, "i": 23, "o": 24, "p": 25,
    "a": 30, "s": 31, "d": 32, "f": 33, "g": 34, "h": 35, "j": 36, "k": 37, "l": 38,
    "z": 44, "x": 45, "c": 46, "v": 47, "b": 48, "n": 49, "m": 50,
}  # fmt: skip
_KEYPAD = {71: "7", 72: "8", 73: "9", 74: "-", 75: "4", 76: "5", 77: "6", 78: "+",
           79: "1", 80: "2", 81: "3", 82: "0", 83: ".", 55: "*", 98: "/"}  # fmt: skip


def _letters(swaps: dict[str, str] | None = None) -> dict[int, tuple[str, str]]:
    swaps = swaps or {}
    return {code: (swaps.get(c, c), swaps.get(c, c).upper()) for c, code in _LETTER_CODES.items()}


def _us() -> dict[int, tuple[str, str]]:
    table = _letters()
    table |= _row(range(2, 14), "1234567890-=", "!@#$%^&*()_+")
    table |= _row([26, 27, 39, 40, 41, 43, 51, 52, 53, 57], "[];'`\\,./ ", '{}:"~|<>? ')
    return table


def _uk() -> dict[int, tuple[str, str]]:
    table = _us()
    table |= _row([3, 4, 40, 41, 43, 86], "23'`#\\", '"£@¬~|')
    return table


def _de() -> dict[int, tuple[str, str]]:
    table = _letters({"y": "z", "z": "y"})
    table |= _row(range(2, 14), "1234567890ß´", '!"§$%&/()=?`')
    table |= _row([26, 27, 39, 40, 41, 43, 51, 52, 53, 57, 86], "ü+öä^#,.- <", "Ü*ÖÄ°';:_ >")
    return table


def _fr() -> dict[int, tuple[str, str]]:
    table = _letters({"q": "a", "a": "q", "w": "z", "z": "w"})
    del table[_LETTER_CODES["m"]]
    table |= _row(range(2, 14), "&é\"'(-è_çà)=", "1234567890°+")
    table |= _row([26, 27, 39, 40, 43, 50, 51, 52, 53, 57, 86], "^$mù*,;:! <", "¨£M%µ?./§ >")
    return table


LAYOUTS: dict[str, dict[int, tuple[str, str]]] = {
    "us": _us(),
    "uk": _uk(),
    "de": _de(),
    "fr": _fr(),
}
ALTGR: dict[str, dict[int, str]] = {
    "de": {8: "{", 9: "[", 10: "]", 11: "}", 12: "\\", 16: "@", 27: "~", 86: "|"},
    "fr": {3: "~", 4: "#", 5: "{", 6: "[", 7: "|", 8: "`", 9: "\\", 10: "^", 11: "@", 12: "]",
           13: "}"},
}  # fmt: skip


class KeymapDecoder:
    def __init__(
        self, layout: Layout = "us", terminator: Terminator = "enter", idle_timeout_s: float = 0.1
    ) -> None:
        self._table = LAYOUTS[layout]
        self._altgr_table = ALTGR.get(layout, {})
        self._terminator = terminator
        self._idle = idle_timeout_s
        self._buffer: list[str] = []
        self._held: set[int] = set()
        self._caps = False
        self._alt_code: str | None = None
        self._dropping = False
        self._discarding = False
        self._last_at: float | None = None
        self.dropped = 0
        self.unknown_keys = 0

    def feed(self, event: KeyEvent) -> list[Frame]:
        now = event.timestamp()
        frames = self.flush(now) if self._terminator == "timeout" else []
        if event.type == EV_SYN:
            if event.code == SYN_DROPPED:
                self._drop()
            elif event.code == SYN_REPORT:
                self._dropping = False
            return frames
        if event.type != EV_KEY or self._dropping:
            return frames
        code, value = event.code, event.value
        if value == 0:
            self._release(code)
            return frames
        if self._discarding and self._last_at is not None and now - self._last_at >= self._idle:
            self._discarding = False
        self._last_at = now
        if self._discarding:
            if self._ends_read(code):
                self._discarding = False
            return frames
        if code in (KEY_LEFTSHIFT, KEY_RIGHTSHIFT, KEY_LEFTCTRL, KEY_RIGHTCTRL, KEY_RIGHTALT):
            self._held.add(code)
        elif code == KEY_LEFTALT:
            self._held.add(code)
            self._alt_code = ""
        elif code == KEY_CAPSLOCK:
            if value == 1:
                self._caps = not self._caps
        elif self._ends_read(code):
            frames.extend(self._end())
        else:
            self._type(code)
        return frames

    def flush(self, now: float) -> list[Frame]:
        idle = self._last_at is not None and now - self._last_at >= self._idle
        if self._terminator == "timeout" and self._buffer and idle:
            return self._end()
        return []

    def _ends_read(self, code: int) -> bool:
        if self._terminator == "enter":
            return code in (KEY_ENTER, KEY_KPENTER)
        if self._terminator == "tab":
            return code == KEY_TAB
        return False

    def _type(self, code: int) -> None:
        held = self._held
        if KEY_LEFTALT in held and code in KEYPAD_DIGITS:
            self._alt_code = (self._alt_code or "") + str(KEYPAD_DIGITS[code])
            return
        if held & {KEY_LEFTCTRL, KEY_RIGHTCTRL}:
            if code == KEY_RIGHTBRACE:
                self._buffer.append(GS)
            else:
                self.unknown_keys += 1
            return
        if KEY_RIGHTALT in held and code in self._altgr_table:
            self._buffer.append(self._altgr_table[code])
            return
        if code in _KEYPAD:
            self._buffer.append(_KEYPAD[code])
            return
        pair = self._table.get(code)
        if pair is None:
            self.unknown_keys += 1
            return
        shifted = bool(held & {KEY_LEFTSHIFT, KEY_RIGHTSHIFT})
        normal, upper = pair
        if normal.isalpha() and normal.lower() != normal.upper():
            shifted ^= self._caps
        self._buffer.append(upper if shifted else normal)

    def _release(self, code: int) -> None:
        self._held.discard(code)
        if code == KEY_LEFTALT and self._alt_code:
            self._buffer.append(chr(int(self._alt_code) % 256))
        if code == KEY_LEFTALT:
            self._alt_code = None

    def _drop(self) -> None:
        if self._buffer:
            self.dropped += 1
        self._buffer.clear()
        self._held.clear()
        self._alt_code = None
        self._dropping = True
        self._discarding = True

    def _end(self) -> list[Frame]:
        text = "".join(self._buffer)
        self._buffer.clear()
        self._last_at = None
        return [Read(text)] if text else []
