"""A terminal station display for ``scantrail-agent run --display``.

Redraws the whole screen on each scan: station, mode, operator, the open session and its
item count, and the last result in letters five rows high, green when kept, red when not.
Plain ANSI, no curses: it must work on the Pi's console and over SSH alike.
"""

from __future__ import annotations

import threading
from typing import TextIO

from agent.feedback import Feedback
from protocol.vocabulary import Outcome

_HEADLINES = {
    Outcome.KEPT: "OK",
    Outcome.DUPLICATE: "DUPLICATE",
    Outcome.BADGE_FIRST: "BADGE",
    Outcome.NO_SESSION: "NOT YET",
    Outcome.SESSION_OPEN: "FINISH",
    Outcome.NOT_HERE: "NOT HERE",
    Outcome.NOT_ALLOWED: "NO",
    Outcome.UNKNOWN_COMMAND: "UNKNOWN",
    Outcome.BLOCKED: "STOP",
    Outcome.BAD_READ: "BAD READ",
    Outcome.UNKNOWN_LABEL: "UNKNOWN",
    Outcome.EMPTY: "AGAIN",
    Outcome.STORE_FULL: "FULL",
    Outcome.STORE_ERROR: "ERROR",
}

# A 3x5 block font, only the letters the headlines use.
_FONT = {
    "A": ("###", "#.#", "###", "#.#", "#.#"),
    "B": ("##.", "#.#", "##.", "#.#", "##."),
    "C": ("###", "#..", "#..", "#..", "###"),
    "D": ("##.", "#.#", "#.#", "#.#", "##."),
    "E": ("###", "#..", "##.", "#..", "###"),
    "F": ("###", "#..", "##.", "#..", "#.."),
    "G": ("###", "#..", "#.#", "#.#", "###"),
    "H": ("#.#", "#.#", "###", "#.#", "#.#"),
    "I": ("###", ".#.", ".#.", ".#.", "###"),
    "K": ("#.#", "#.#", "##.", "#.#", "#.#"),
    "L": ("#..", "#..", "#..", "#..", "###"),
    "N": ("##.", "#.#", "#.#", "#.#", "#.#"),
    "O": ("###", "#.#", "#.#", "#.#", "###"),
    "P": ("###", "#.#", "###", "#..", "#.."),
    "R": ("##.", "#.#", "##.", "#.#", "#.#"),
    "S": ("###", "#..", "###", "..#", "###"),
    "T": ("###", ".#.", ".#.", ".#.", ".#."),
    "U": ("#.#", "#.#", "#.#", "#.#", "###"),
    "W": ("#.#", "#.#", "#.#", "###", "#.#"),
    "Y": ("#.#", "#.#", ".#.", ".#.", ".#."),
    " ": ("...", "...", "...", "...", "..."),
}

_CLEAR = "\x1b[2J\x1b[H"
_GREEN, _RED, _RESET = "\x1b[32;1m", "\x1b[31;1m", "\x1b[0m"


def big(text: str) -> list[str]:
    """``text`` in five rows of block letters (unknown letters become blanks)."""
    glyphs = [_FONT.get(ch, _FONT[" "]) for ch in text.upper()]
    return [
        " ".join(g[row] for g in glyphs).replace("#", "██").replace(".", "  ") for row in range(5)
    ]


def render(station_name: str, feedback: Feedback) -> str:
    """The whole screen for the last result, without colour."""
    return "\n\n".join(_parts(station_name, feedback))


def _parts(station_name: str, feedback: Feedback) -> tuple[str, str, str]:
    """The screen's three blocks: station lines, the big result, the message line."""
    state = feedback.station
    lines = [f" {station_name}"]
    if state is not None:
        lines.append(f" mode: {state.mode.replace('_', ' ')}    operator: {state.operator or '—'}")
        session = state.session
        if session is None:
            lines.append(" no session open")
        else:
            lines.append(f" open {session.kind}: {session.key}    items: {feedback.session_items}")
    headline = "\n".join(" " + row for row in big(_HEADLINES[feedback.outcome]))
    return "\n".join(lines), headline, f" {feedback.message}\n"


class TerminalDisplay:
    def __init__(self, station_name: str, stream: TextIO) -> None:
        self._name = station_name
        self._stream = stream
        self._lock = threading.Lock()

    def show(self, feedback: Feedback) -> None:
        colour = _GREEN if feedback.kept else _RED
        head, headline, message = _parts(self._name, feedback)
        with self._lock:
            self._stream.write(f"{_CLEAR}{head}\n\n{colour}{headline}{_RESET}\n\n{message}")
            self._stream.flush()
