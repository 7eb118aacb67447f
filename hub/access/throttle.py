"""Sign-in throttling, per username and per client address. Pure: times are handed in.

Five failed tries are free; after them each further try must wait twice as long as the
last (1 s, 2 s, 4 s … to ``MAX_WAIT_S``), counted from the latest failure. A try while
waiting is refused without checking the password, so a flood costs no argon2 hash. A
success clears the username's count and the address's. More than ``FLOOD`` tries refused
(wrong, or too soon) for one key within ``FLOOD_WINDOW_S`` is a flood: the key is named
once as it crosses the line, for the ``signin_flood`` alert.

Kept in the process's memory: a restart forgets it (an attacker gains five tries), and
several hubs each count their own (issue 31 puts them behind one broker and database).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

FREE_TRIES = 5
FIRST_WAIT_S = 1.0
MAX_WAIT_S = 300.0
FLOOD = 50
FLOOD_WINDOW_S = 300.0
MAX_KEYS = 10_000  # past it, keys quiet for longer than any wait are forgotten

Key = tuple[str, str]  # ("user", name) or ("address", host)


def keys_for(username: str | None, address: str | None) -> list[Key]:
    """A token sign-in counts against its address alone: a shared key would let one
    guesser lock every token out."""
    keys: list[Key] = [("user", username.strip().lower())] if username else []
    if address:
        keys.append(("address", address))
    return keys


@dataclass
class _Tries:
    failures: int = 0  # wrong passwords since the last success
    last_at: float = 0.0  # the latest wrong one
    recent: deque[float] = field(default_factory=deque)
    flooding: bool = False


class Throttle:
    def __init__(self) -> None:
        self._tries: dict[Key, _Tries] = {}

    def wait_s(self, keys: Iterable[Key], now: float) -> float:
        """How long before these keys may try again; 0: now."""
        return max((self._wait(self._tries.get(key), now) for key in keys), default=0.0)

    def failed(self, keys: Iterable[Key], now: float) -> list[Key]:
        """Count a try whose password was wrong: the next waits longer. Returns the keys
        whose tries just became a flood."""
        return self._tried(keys, now, wrong=True)

    def refused(self, keys: Iterable[Key], now: float) -> list[Key]:
        """Count a try refused for coming too soon: it adds to a flood, not to the wait."""
        return self._tried(keys, now, wrong=False)

    def _tried(self, keys: Iterable[Key], now: float, wrong: bool) -> list[Key]:
        flooded = []
        for key in keys:
            tries = self._tries.setdefault(key, _Tries())
            if wrong:
                tries.failures += 1
                tries.last_at = now
            tries.recent.append(now)
            while tries.recent and tries.recent[0] < now - FLOOD_WINDOW_S:
                tries.recent.popleft()
            flooding = len(tries.recent) > FLOOD
            if flooding and not tries.flooding:
                flooded.append(key)
            tries.flooding = flooding
        self._forget_quiet(now)
        return flooded

    def succeeded(self, keys: Iterable[Key]) -> None:
        for key in keys:
            self._tries.pop(key, None)

    @staticmethod
    def _wait(tries: _Tries | None, now: float) -> float:
        if tries is None or tries.failures < FREE_TRIES:
            return 0.0
        doublings = min(tries.failures - FREE_TRIES, 30)  # 2**30 s is past any cap
        wait = min(FIRST_WAIT_S * 2.0**doublings, MAX_WAIT_S)
        return max(0.0, tries.last_at + wait - now)

    def _forget_quiet(self, now: float) -> None:
        if len(self._tries) <= MAX_KEYS:
            return
        horizon = now - max(MAX_WAIT_S, FLOOD_WINDOW_S)
        for key in [k for k, t in self._tries.items() if t.last_at < horizon]:
            del self._tries[key]
