"""What open live streams cost the hub (issue 29: 50 streams of one viewer took a hub from
1% to 93% CPU and tripled ``/api/v1/status`` latency).

Runs ``scantrail-hub serve`` as its own process (SQLite, its own mosquitto), opens N live
streams (``GET /api/v1/stream``, five per viewer token, the default limit) from this
process, and measures over a window: the hub's CPU (its /proc utime + stime) and the
latency of ``/api/v1/status`` asked one at a time. N = 0 is the baseline, measured in the
same run; then 1 and ``--streams``. Prints one JSON line.
Target: ``--streams`` streams cost at most twice the CPU of one.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import structlog  # noqa: E402

from tests.harness.mosquitto import Mosquitto  # noqa: E402
from tests.harness.processes import HubProcess  # noqa: E402

PER_TOKEN = 5  # [api] streams_per_token's default


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Stream(threading.Thread):
    """One live stream read to the end (until ``stop``), as a dashboard holds it."""

    def __init__(self, url: str, token: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self._url, self._token, self._done = url, token, stop
        self.opened = threading.Event()

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self._token}"}
        timeout = httpx.Timeout(10, read=30)  # a keepalive comes every second
        with (
            httpx.Client(timeout=timeout) as client,
            client.stream("GET", f"{self._url}/api/v1/stream", headers=headers) as answer,
        ):
            assert answer.status_code == 200, answer.status_code
            self.opened.set()
            for _ in answer.iter_lines():
                if self._done.is_set():
                    return


def measure(
    hub: HubProcess, tokens: list[str], admin: str, streams: int, window_s: float
) -> dict[str, float]:
    stop = threading.Event()
    held = [_Stream(hub.base_url, tokens[n // PER_TOKEN], stop) for n in range(streams)]
    for stream in held:
        stream.start()
    for stream in held:
        assert stream.opened.wait(30), "a stream did not open"
    time.sleep(2)  # settle: the streams' first reads are not the steady cost
    assert hub.proc is not None
    cpu_before, began = _cpu_s(hub.proc.pid), time.perf_counter()
    latencies = []
    with httpx.Client(base_url=hub.base_url, timeout=30) as client:
        while time.perf_counter() - began < window_s:
            t0 = time.perf_counter()
            answer = client.get("/api/v1/status", headers={"Authorization": f"Bearer {admin}"})
            latencies.append(time.perf_counter() - t0)
            assert answer.status_code == 200
            time.sleep(0.05)
    elapsed = time.perf_counter() - began
    cpu = (_cpu_s(hub.proc.pid) - cpu_before) / elapsed * 100
    stop.set()
    for stream in held:
        stream.join(timeout=30)
    return {
        "hub_cpu_pct": round(cpu, 1),
        "status_p50_ms": round(statistics.median(latencies) * 1000, 2),
        "status_p99_ms": round(sorted(latencies)[int(0.99 * (len(latencies) - 1))] * 1000, 2),
    }


def main() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=40)
    parser.add_argument("--window-s", type=float, default=15.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="stream-bench-"))
    broker = Mosquitto(work / "mosquitto")
    broker.workdir.mkdir(parents=True)
    broker.start()
    # A keepalive a second lets each stream's reader see ``stop`` promptly.
    keepalive = {"api": {"stream_keepalive_s": 1.0}}
    hub = HubProcess(work / "hub", f"sqlite:///{work / 'hub.db'}", broker.port, extra=keepalive)
    try:
        hub.start()
        viewers = -(-args.streams // PER_TOKEN)
        tokens = []
        for n in range(viewers):
            made = hub.cli("tokens", "create", "--role", "viewer", "--name", f"screen {n}")
            assert made.returncode == 0, made.stderr
            tokens.append(made.stdout.split()[-1])
        figures = {
            str(n): measure(hub, tokens, hub.token, n, args.window_s) for n in (0, 1, args.streams)
        }
    finally:
        hub.stop()
        broker.kill()
    many, one, none = figures[str(args.streams)], figures["1"], figures["0"]
    print(
        json.dumps(
            {
                "bench": "stream",
                "streams": figures,
                "ratios": {
                    f"cpu_{args.streams}_vs_1": round(
                        many["hub_cpu_pct"] / max(one["hub_cpu_pct"], 0.1), 2
                    ),
                    f"status_p50_{args.streams}_vs_0": round(
                        many["status_p50_ms"] / none["status_p50_ms"], 2
                    ),
                },
                "targets": {f"cpu_{args.streams}_vs_1": "<= 2"},
            }
        )
    )


if __name__ == "__main__":
    main()
