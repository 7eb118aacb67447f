"""The live stream through the real path: a scan's record changes reach an SSE client,
and a client that reconnects with Last-Event-ID misses nothing."""

from __future__ import annotations

import json
import queue
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from tests.harness.mosquitto import Mosquitto
from tests.harness.processes import AgentProcess, HubProcess
from tests.harness.waiting import wait_for


class Listener:
    """An SSE client on its own thread, parsing frames into a queue until closed."""

    def __init__(self, hub: HubProcess, last_event_id: str | None = None) -> None:
        self.frames: queue.Queue[dict[str, Any]] = queue.Queue()
        self.comments: list[str] = []
        self._headers = {"Authorization": f"Bearer {hub.token}"}
        if last_event_id:
            self._headers["Last-Event-ID"] = last_event_id
        self._url = f"{hub.base_url}/api/v1/stream?kinds=record,alert"
        self._client = httpx.Client(timeout=httpx.Timeout(10, read=None))
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        frame: dict[str, Any] = {}
        try:
            with self._client.stream("GET", self._url, headers=self._headers) as response:
                assert response.status_code == 200
                for line in response.iter_lines():
                    if self._closing.is_set():
                        return  # a line arrives at least every keepalive: this is prompt
                    if line.startswith(":"):
                        self.comments.append(line)
                    elif not line and frame:
                        self.frames.put(frame)
                        frame = {}
                    elif line:
                        name, _, value = line.partition(": ")
                        frame[name] = value
        except httpx.HTTPError:
            pass  # closed by the test

    def take_until(self, wanted: Any, timeout: float = 60) -> list[dict[str, Any]]:
        """Frames until one for which ``wanted`` is true (that one included)."""
        got: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                frame = self.frames.get(timeout=0.5)
            except queue.Empty:
                continue
            got.append(frame)
            if wanted(frame):
                return got
        raise AssertionError(f"no wanted frame in {timeout} s; got {got[-5:]}")

    def close(self) -> None:
        self._closing.set()
        self._thread.join(timeout=30)
        self._client.close()


def _about(key: str) -> Any:
    return lambda f: f.get("event") == "record" and json.loads(f["data"])["entity_key"] == key


def test_a_client_sees_record_changes_and_resumes_without_missing_any(
    tmp_path: Path, broker: Mosquitto, sqlite_url: str
) -> None:
    """A move's record changes arrive on the stream with ids; after a disconnect, more
    moves happen; reconnecting with the last id delivers every change made meanwhile,
    exactly the audit entries after it, and a quiet stream carries keepalive comments."""
    hub = HubProcess(
        tmp_path / "hub", sqlite_url, broker.port, extra={"api": {"stream_keepalive_s": 1}}
    )
    agent = AgentProcess(tmp_path / "agent", "pi-porter", broker.port, mode="asset_move")
    hub.start()
    agent.start()
    try:
        # From the log's start: a stream without an id starts wherever the newest entry is
        # when it opens, and this one must not race the first scan to it.
        first = Listener(hub, last_event_id="0.0")
        assert agent.scan("AST-1")["kept"] and agent.scan("LOC-1")["kept"]
        seen = first.take_until(_about("site:AST-1"))
        wait_for(lambda: _keepalive(first), timeout=30)
        last = seen[-1]["id"]
        first.close()

        for n in range(2, 6):
            assert agent.scan(f"AST-{n}")["kept"]
        assert agent.scan("LOC-2")["kept"]
        wait_for(lambda: _moved(hub, 5), timeout=60)

        again = Listener(hub, last_event_id=last)
        resumed = again.take_until(_about("site:AST-5"))
        again.close()
        audit_after = int(last.split(".")[0])
        expected = [e["id"] for e in hub.get("/api/v1/audit", after_id=audit_after)["items"]]
        events = [f for f in resumed if "event" in f]
        records = [json.loads(f["data"])["id"] for f in events if f["event"] == "record"]
        assert records == expected[: len(records)] and len(records) >= 5
        assert all(f["id"].count(".") == 1 for f in events)
    finally:
        agent.stop()
        hub.stop()


def _keepalive(listener: Listener) -> None:
    assert listener.comments, "no keepalive yet"


def _moved(hub: HubProcess, count: int) -> None:
    assets = hub.records("assets")
    assert len(assets) == count and all(a["location"] for a in assets), assets
