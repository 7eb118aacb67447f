"""What sign-in keeps in one hub process (hub/web/signin.py): the throttle, the argon2
checks running, and the key the sign-in form's CSRF field is made with.

The key is the same for every hub on one PostgreSQL (hub/store/secrets.py): a browser may
load the sign-in form from one hub and post it to another behind the same address. The
throttle stays per process: several hubs each allow their share (docs/cluster.md)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

from hub.access import csrf
from hub.access.throttle import Throttle

# argon2 takes 64 MiB and a core for a while per check: a flood of sign-ins must not take
# the memory and the cores of the process that acks scans.
CHECKS_AT_ONCE = 2


class Gate:
    """One hub process's sign-in state; the CSRF key is hub/access/csrf.py's."""

    def __init__(self, session_hours: float, load_key: Callable[[], bytes] = csrf.new_key) -> None:
        """``load_key``: the CSRF key, read when first needed (default: this process's own)."""
        self.ttl = timedelta(hours=session_hours)
        self.throttle = Throttle()
        self.checking = threading.BoundedSemaphore(CHECKS_AT_ONCE)
        self.lock = threading.Lock()  # the throttle is shared by the server's threads
        self._load_key = load_key
        self._key: bytes | None = None
        self._key_lock = threading.Lock()

    @property
    def key(self) -> bytes:
        with self._key_lock:
            if self._key is None:
                self._key = self._load_key()
            return self._key
