"""The agent and the hub as real processes, configured through real TOML files."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from agent.errors import ControlError
from agent.sources.socket_source import request
from tests.harness.waiting import free_port, port_free, wait_for


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):  # an inline table
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    return json.dumps(str(value))


def write_toml(path: Path, top: dict[str, Any], sections: dict[str, dict[str, Any]]) -> Path:
    lines = [f"{k} = {_toml(v)}" for k, v in top.items()]
    for name, values in sections.items():
        lines.append(f"\n[{name}]")
        lines.extend(f"{k} = {_toml(v)}" for k, v in values.items())
    path.write_text("\n".join(lines) + "\n")
    return path


def merged(
    sections: dict[str, dict[str, Any]], extra: dict[str, dict[str, Any]] | None
) -> dict[str, dict[str, Any]]:
    """``sections`` with a test's ``extra`` keys added to each section (not replacing it)."""
    out = dict(sections)
    for name, values in (extra or {}).items():
        out[name] = {**out.get(name, {}), **values}
    return out


PORT_TRIES = 3
PORT_TAKEN = "address already in use"


class _Process:
    argv: list[str]

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen[bytes] | None = None
        self.env: dict[str, str] = {}  # extra environment, e.g. NOTIFY_SOCKET
        self.prefix: list[str] = []  # run under this, e.g. ``ip netns exec NAME``

    def _spawn(self) -> None:
        log = open(self.workdir / "process.log", "ab")  # noqa: SIM115 - lives with the process
        env = {**os.environ, **self.env}
        self.proc = subprocess.Popen(
            [*self.prefix, *self.argv], stdout=log, stderr=subprocess.STDOUT, env=env
        )
        log.close()

    def _until(self, ready: Callable[[], None], timeout: float) -> None:
        """Wait for ``ready``; a process that never gets there is killed, not left behind
        (a test that fails in start() never reaches its own stop())."""
        try:
            wait_for(ready, timeout=timeout)
        except BaseException:
            self.kill()
            raise

    def kill(self) -> None:
        """``kill -9``."""
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        self._signal(signal.SIGTERM)

    def _signal(self, signum: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signum)
            self.proc.wait(timeout=30)
        self.proc = None

    def output(self, since: int = 0) -> str:
        """The end of its log; ``since``: only what came after that many bytes."""
        path = self.workdir / "process.log"
        if not path.exists():
            return ""
        with path.open("rb") as log:
            log.seek(since)
            return log.read().decode(errors="replace")[-4000:]

    def output_size(self) -> int:
        path = self.workdir / "process.log"
        return path.stat().st_size if path.exists() else 0

    def _alive(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            raise RuntimeError(f"{self.argv[3]} exited:\n{self.output()}")


class AgentProcess(_Process):
    def __init__(
        self,
        workdir: Path,
        agent_id: str,
        broker_port: int,
        keepalive_s: int = 15,
        max_bytes: int = 512 * 1024 * 1024,
        mode: str = "asset_move",
        allow_mode_change: bool = False,
        extra: dict[str, dict[str, Any]] | None = None,
        host: str = "127.0.0.1",
        scanners: list[dict[str, Any]] | None = None,
        tls_ca: Path | None = None,
        station_name: str | None = None,
        **delivery: Any,
    ) -> None:
        """``tls_ca``: the broker's port is a TLS listener whose certificate this CA signed.
        ``station_name``: what the station calls itself (default ``bench-<agent id>``)."""
        super().__init__(workdir)
        self.agent_id = agent_id
        top: dict[str, Any] = {"agent_id": agent_id, "data_dir": workdir / "data"}
        if scanners:
            top["scanners"] = scanners
        sections: dict[str, dict[str, Any]] = {
            "mqtt": {
                "host": host,
                "port": broker_port,
                "reconnect_max_s": 2,
                "keepalive_s": keepalive_s,
                **({"tls_ca": tls_ca} if tls_ca else {}),
            },
            "station": {
                "name": station_name or f"bench-{agent_id}",
                "mode": mode,
                "allow_mode_change": allow_mode_change,
            },
            "outbox": {"max_bytes": max_bytes},
            "delivery": {
                "resend_after_s": 1.0,
                "resend_max_s": 4.0,
                "health_interval_s": 1.0,
                **delivery,
            },
        }
        self.config = write_toml(workdir / "agent.toml", top, merged(sections, extra))
        self.socket = workdir / "data" / "agent.sock"
        self.argv = [sys.executable, "-m", "agent", "run", "--config", str(self.config)]

    def start(self) -> None:
        self._spawn()
        self._until(self._answers, timeout=30)

    def _answers(self) -> None:
        self._alive()
        try:
            request(self.socket, {"op": "status"}, timeout=2)
        except ControlError as exc:
            raise AssertionError(str(exc)) from exc

    def scan(self, text: str) -> dict[str, Any]:
        return request(self.socket, {"op": "scan", "text": text, "scanner_id": "test"})

    def status(self) -> dict[str, Any]:
        return request(self.socket, {"op": "status"}, timeout=5)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "agent", *args, "--config", str(self.config)],
            capture_output=True,
            text=True,
            timeout=60,
        )


class HubProcess(_Process):
    def __init__(
        self,
        workdir: Path,
        database_url: str,
        broker_port: int,
        extra: dict[str, dict[str, Any]] | None = None,
        crash_at: str | None = None,
        after: int = 1,
        clock_error_file: Path | None = None,
    ) -> None:
        """``crash_at``, ``after``, ``clock_error_file``: run it as tests/harness/faulty_hub.py
        does, SIGKILLed the ``after``-th time it reaches ``crash_at``, its clock stepped by
        the seconds in ``clock_error_file``."""
        super().__init__(workdir)
        self.api_port = free_port()
        self.database_url = database_url
        sections: dict[str, dict[str, Any]] = {
            "mqtt": {"host": "127.0.0.1", "port": broker_port},
            "api": {"host": "127.0.0.1", "port": self.api_port},
        }
        self._sections = merged(sections, extra)
        self.config = workdir / "hub.toml"
        self._take_port(self.api_port)
        self.argv = [sys.executable, "-m", "hub", "serve", "--config", str(self.config)]
        if crash_at or clock_error_file:
            self.argv = [sys.executable, "-m", "tests.harness.faulty_hub"]
            self.argv += ["--config", str(self.config)]
            if crash_at:
                self.argv += ["--crash-at", crash_at, "--after", str(after)]
            if clock_error_file:
                self.argv += ["--clock-error-file", str(clock_error_file)]
            self.env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
        self.verify: ssl.SSLContext | bool = True
        self._token: str | None = None

    def trust(self, ca_file: Path) -> None:
        """Check the hub's certificate against this CA (the site's)."""
        self.verify = ssl.create_default_context(cafile=str(ca_file))

    def _take_port(self, port: int) -> None:
        """Serve on ``port``: the config file says so, and the tests' URL."""
        self.api_port = port
        self._sections["api"]["port"] = port
        write_toml(self.config, {"database_url": self.database_url}, self._sections)
        # Served over TLS when the test gives it a certificate: checked against ``tls_ca``.
        https = "tls_cert" in self._sections["api"]
        self.base_url = f"{'https' if https else 'http'}://127.0.0.1:{port}"

    def start(self, wait: bool = True) -> None:
        """Start it; wait until it answers unless told not to. ``free_port`` finds a port
        free a moment before the hub binds it, and another process (a second suite on the
        machine) may take it meanwhile: the harness's race, not the hub's fault, so the hub
        is started again on another port, up to PORT_TRIES times."""
        for attempt in range(1, PORT_TRIES + 1):
            try:
                wait_for(lambda: port_free(self.api_port), timeout=30)  # after a kill -9
            except AssertionError:
                self._take_port(free_port())  # held by something else for good
            logged = self.output_size()
            self._spawn()
            if not wait:
                return
            try:
                self._until(self._healthy, timeout=30)
                return
            except RuntimeError:
                if attempt == PORT_TRIES or PORT_TAKEN not in self.output(since=logged):
                    raise
                self._take_port(free_port())

    def _healthy(self) -> None:
        self._alive()
        try:
            response = httpx.get(f"{self.base_url}/healthz", timeout=2, verify=self.verify)
        except httpx.HTTPError as exc:
            raise AssertionError(str(exc)) from exc
        assert response.status_code == 200, response.text

    def wait_exit(self, timeout: float = 30) -> int:
        assert self.proc is not None
        code = self.proc.wait(timeout=timeout)
        self.proc = None
        return code

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hub", args[0], "--config", str(self.config), *args[1:]],
            capture_output=True,
            text=True,
            timeout=120,
        )

    @property
    def token(self) -> str:
        """An admin API token, made through the CLI the first time a test needs one."""
        if self._token is None:
            made = self.cli("tokens", "create", "--role", "admin", "--name", "tests")
            assert made.returncode == 0, made.stderr
            self._token = made.stdout.split()[-1]
        return self._token

    def get(self, path: str, **params: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"}
        response = httpx.get(
            f"{self.base_url}{path}", params=params, headers=headers, timeout=10, verify=self.verify
        )
        response.raise_for_status()
        return response.json()

    def agent_row(self, agent_id: str) -> dict[str, Any]:
        """The agent's fleet row; an AssertionError (so ``wait_for`` retries) until it has one."""
        rows = [a for a in self.get("/api/v1/agents")["items"] if a["agent_id"] == agent_id]
        assert len(rows) == 1, f"{agent_id} has not reached the hub yet"
        return dict(rows[0])

    def records(self, kind: str, **params: Any) -> list[dict[str, Any]]:
        """Every record of ``kind`` matching ``params``, all pages."""
        items: list[dict[str, Any]] = []
        after: dict[str, Any] = {}
        while True:
            page = self.get(f"/api/v1/records/{kind}", limit=1000, **params, **after)
            items.extend(page["items"])
            if page["next_after"] is None:
                return items
            after = {"after": page["next_after"]}

    def alerts(self, kind: str) -> list[dict[str, Any]]:
        return [a for a in self.get("/api/v1/alerts", limit=1000)["items"] if a["kind"] == kind]

    def all_scans(self, agent_id: str | None = None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        after = 0
        while True:
            params: dict[str, Any] = {"after_id": after, "limit": 1000}
            if agent_id:
                params["agent_id"] = agent_id
            page = self.get("/api/v1/scans", **params)
            items.extend(page["items"])
            if page["next_after_id"] is None:
                return items
            after = page["next_after_id"]
