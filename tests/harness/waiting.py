"""Wait for a condition with tenacity, never with a bare sleep."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import TypeVar

from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

T = TypeVar("T")


class NotYet(AssertionError):
    """The condition does not hold yet."""


def wait_for(check: Callable[[], T], timeout: float = 30.0, interval: float = 0.1) -> T:
    """Call ``check`` until it returns without raising AssertionError; re-raise at timeout."""
    for attempt in Retrying(
        stop=stop_after_delay(timeout),
        wait=wait_fixed(interval),
        retry=retry_if_exception_type(AssertionError),
        reraise=True,
    ):
        with attempt:
            return check()
    raise NotYet("unreachable")


async def until(check: Callable[[], bool], timeout: float = 30.0, interval: float = 0.02) -> None:
    """In a test's event loop: wait until ``check()`` is true, failing after ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, f"not in {timeout} s"
        await asyncio.sleep(interval)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
        pass


def port_free(port: int) -> None:
    """The port can be bound again (a killed server's socket may linger a moment)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise AssertionError(f"port {port} is still in use: {exc}") from exc
