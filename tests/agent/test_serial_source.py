"""The serial source through a real pseudo-terminal, including unplug and replug."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.decode import BadRead, Frame, Read
from agent.settings import SerialScanner
from agent.sources.serial_source import SerialSource
from tests.harness.ports import FakeScannerPort
from tests.harness.waiting import wait_for


class Collector:
    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self._lock = threading.Lock()

    def __call__(self, frame: Frame, scanner_id: str) -> None:
        with self._lock:
            self.frames.append(frame)

    def reads(self) -> list[str]:
        return [f.text for f in self.frames if isinstance(f, Read)]


@pytest.fixture
def port(tmp_path: Path) -> Iterator[FakeScannerPort]:
    fake = FakeScannerPort(tmp_path / "usb-Honeywell_1950g-if00")
    yield fake
    if fake.link.exists():
        fake.unplug()


def _source(port: FakeScannerPort, suffix: str, collect: Collector) -> SerialSource:
    settings = SerialScanner(id="serial-1", path=port.link, suffix=suffix)  # type: ignore[arg-type]
    source = SerialSource(settings, collect, reopen_max_s=0.3)
    source.start()
    wait_for(lambda: _connected(source), timeout=10)
    return source


def _connected(source: SerialSource) -> None:
    assert source.connected


@pytest.mark.parametrize(
    ("suffix", "end"), [("cr", b"\r"), ("lf", b"\n"), ("crlf", b"\r\n"), ("tab", b"\t")]
)
def test_codes_with_each_suffix_are_read(port: FakeScannerPort, suffix: str, end: bytes) -> None:
    """Codes ending in each supported suffix arrive as reads, in order."""
    collect = Collector()
    source = _source(port, suffix, collect)
    try:
        port.write(b"INS-1" + end + b"TRY-2" + end)
        wait_for(lambda: _equal(collect.reads(), ["INS-1", "TRY-2"]), timeout=10)
    finally:
        source.stop()


def test_timeout_suffix_ends_a_read_after_a_pause(port: FakeScannerPort) -> None:
    """With no suffix, a pause ends the read."""
    collect = Collector()
    source = _source(port, "timeout", collect)
    try:
        port.write(b"INS-77")
        wait_for(lambda: _equal(collect.reads(), ["INS-77"]), timeout=10)
    finally:
        source.stop()


def test_garbage_and_a_runaway_line_are_bad_reads_and_good_codes_survive(
    port: FakeScannerPort,
) -> None:
    """Garbage bytes and a 10 KB unterminated line are bad reads; the next code still reads."""
    collect = Collector()
    source = _source(port, "cr", collect)
    try:
        port.write(b"\xff\xfe\x00\x80\r")
        for _ in range(10):
            port.write(b"Z" * 1000)
        port.write(b"\rINS-GOOD\r")
        wait_for(lambda: _equal(collect.reads(), ["INS-GOOD"]), timeout=10)
        reasons = [f.reason for f in collect.frames if isinstance(f, BadRead)]
        assert reasons == ["not_utf8", "too_long"]
    finally:
        source.stop()


def test_unplug_and_replug_reopens_and_keeps_reading(port: FakeScannerPort) -> None:
    """Closing the pty (unplug) and making a new one at the same path (replug) resumes reads."""
    collect = Collector()
    source = _source(port, "cr", collect)
    try:
        port.write(b"INS-BEFORE\r")
        wait_for(lambda: _equal(collect.reads(), ["INS-BEFORE"]), timeout=10)
        port.unplug()
        wait_for(lambda: _disconnected(source), timeout=10)
        port.plug()
        wait_for(lambda: _connected(source), timeout=15)
        port.write(b"INS-AFTER\r")
        wait_for(lambda: _equal(collect.reads(), ["INS-BEFORE", "INS-AFTER"]), timeout=10)
        assert source.reopens >= 1 and source.state()["connected"] is True
    finally:
        source.stop()


def _disconnected(source: SerialSource) -> None:
    assert not source.connected


def _equal(actual: list[str], expected: list[str]) -> None:
    assert actual == expected
