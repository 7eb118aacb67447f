"""What sign-in keeps in one hub process (hub/web/signin.py): the throttle, the argon2
checks running, and the key the sign-in form's CSRF field is made with."""

from __future__ import annotations

import threading
from datetime import timedelta

from hub.access import csrf
from hub.access.throttle import Throttle

# argon2 takes 64 MiB and a core for a while per check: a flood of sign-ins must not take
# the memory and the cores of the process that acks scans.
CHECKS_AT_ONCE = 2


class Gate:
    """One hub process's sign-in state; the CSRF key is hub/access/csrf.py's."""

    def __init__(self, session_hours: float) -> None:
        self.ttl = timedelta(hours=session_hours)
        self.throttle = Throttle()
        self.checking = threading.BoundedSemaphore(CHECKS_AT_ONCE)
        self.lock = threading.Lock()  # the throttle is shared by the server's threads
        self.key = csrf.new_key()
