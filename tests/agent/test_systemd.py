"""sd_notify: READY on start, WATCHDOG while the writer answers, nothing outside systemd."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.systemd import Watchdog, notify, watchdog_interval_s
from tests.harness.mosquitto import Mosquitto
from tests.harness.processes import AgentProcess
from tests.harness.waiting import wait_for


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    sock.settimeout(10)
    yield sock
    sock.close()


def test_notify_sends_a_datagram_to_notify_socket(notify_socket: socket.socket) -> None:
    """With NOTIFY_SOCKET set, the message arrives as one datagram."""
    assert notify("READY=1", {"NOTIFY_SOCKET": notify_socket.getsockname()})
    assert notify_socket.recv(256) == b"READY=1"


def test_notify_outside_systemd_or_to_a_dead_socket_is_harmless(tmp_path: Path) -> None:
    """No NOTIFY_SOCKET, or one nobody listens on, returns False and raises nothing."""
    assert not notify("READY=1", {})
    assert not notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})


def test_watchdog_interval_is_half_of_watchdog_usec_for_this_pid() -> None:
    """WatchdogSec=10 means a ping every 5 s; a watchdog meant for another PID is ignored."""
    assert watchdog_interval_s({"WATCHDOG_USEC": "10000000"}) == 5.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval_s({}) is None


def test_watchdog_pings_only_while_alive(
    notify_socket: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pings flow while the liveness check passes and stop when it fails."""
    monkeypatch.setenv("NOTIFY_SOCKET", notify_socket.getsockname())
    alive = threading.Event()
    alive.set()
    dog = Watchdog(0.02, alive.is_set)
    dog.start()
    try:
        assert notify_socket.recv(64) == b"WATCHDOG=1"
        alive.clear()
        notify_socket.settimeout(0.05)
        while True:  # drain pings sent before the switch, then expect silence
            try:
                notify_socket.recv(64)
            except TimeoutError:
                break
        with pytest.raises(TimeoutError):
            notify_socket.settimeout(0.3)
            notify_socket.recv(64)
    finally:
        dog.stop()


@pytest.mark.integration
def test_agent_under_systemd_says_ready_and_feeds_the_watchdog(
    tmp_path: Path, broker: Mosquitto, notify_socket: socket.socket
) -> None:
    """The real agent sends READY=1 once started and WATCHDOG=1 while its writer runs."""
    agent = AgentProcess(tmp_path / "agent", "pi-systemd", broker.port)
    agent.env = {"NOTIFY_SOCKET": notify_socket.getsockname(), "WATCHDOG_USEC": "400000"}
    agent.start()
    try:
        seen: list[bytes] = []

        def both() -> None:
            seen.append(notify_socket.recv(256))
            assert any(m.startswith(b"READY=1") for m in seen)
            assert b"WATCHDOG=1" in seen

        wait_for(both, timeout=20)
    finally:
        agent.stop()
