"""`make demo`: a small hospital's shift on this machine, as it would run on real Pis.

mosquitto with TLS, one login per station and the ACL (made by `scantrail-hub ca init`),
the hub on SQLite, a small hospital's reference data, and four provisioned stations
(sterilizer, tray bench, OR, porter) that replay a shift: a tray closed short, a failed
biological indicator and its recall, a quarantined instrument caught at the OR, and a
porter's Pi that loses the network for two minutes and catches up. Then the porter keeps
moving equipment until Ctrl-C or `make demo-stop`.

Only loopback is used. Everything it starts is written to var/demo/pids for demo-stop.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from demo_hospital import reference, tray, tray_contents

from agent.sources.socket_source import request

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var" / "demo"
PIDS = VAR / "pids"
OPERATOR, PASSWORD = "olga", "scantrail-demo"  # an operator's account, for this demo only
OFFLINE_S = 120.0
STATIONS = {
    "pi-steril-01": ("Sterilizer 1", "sterilizer"),
    "pi-tray-01": ("Tray bench 1", "tray_assembly"),
    "pi-or-01": ("OR 1", "point_of_use"),
    "pi-porter-01": ("Porter desk", "asset_move"),
}
PORTER = "pi-porter-01"


def shift() -> Iterator[tuple[str, str]]:
    """(station, barcode) in the order a morning's shift scans them."""
    for code in ["USR-0101", tray(1), *tray_contents(1), "CMD-COMPLETE"]:
        yield "pi-tray-01", code
    for code in ["USR-0102", "STE-01", "STE-01.500", "CMD-TYPE-BOWIE-DICK", "CMD-CYCLE-PASS"]:
        yield "pi-steril-01", code  # the day's air-removal test first
    for code in [tray(2), *tray_contents(2)[:-1], "CMD-COMPLETE"]:
        yield "pi-tray-01", code  # closed short of its last instrument
    for code in [tray(3), *tray_contents(3), "CMD-COMPLETE"]:
        yield "pi-tray-01", code
    load = ["CMD-TYPE-PREVAC", "CMD-EXPOSURE-4", "CMD-TEMP-134", "CMD-CI-PASS"]
    for code in ["STE-01", "STE-01.501", *load, tray(1), tray(2), "CMD-CYCLE-PASS"]:
        yield "pi-steril-01", code
    for code in ["STE-01", "STE-01.502", *load, tray(3), "CMD-CYCLE-PASS"]:
        yield "pi-steril-01", code
    yield from (("pi-steril-01", c) for c in ("STE-01.501", "CMD-BI-PASS"))
    yield from (("pi-porter-01", c) for c in ("USR-0104", "AST-001", "AST-002", "LOC-ROOM-01"))
    yield from (("pi-steril-01", c) for c in ("STE-01.502", "CMD-BI-FAIL"))  # the recall
    for code in ["USR-0103", "CASE-100", tray(1), tray_contents(1)[0], "CMD-DONE"]:
        yield "pi-or-01", code
    # An instrument from the failed load, on its own, at the next case: caught.
    for code in ["CASE-101", tray_contents(3)[0], "CMD-DONE"]:
        yield "pi-or-01", code
    yield PORTER, "offline"  # its network goes for two minutes; it keeps scanning
    for code in ["AST-003", "LOC-ROOM-02", "AST-004", "AST-005", "LOC-OR-1"]:
        yield PORTER, code


class Cable:
    """A TCP relay between the porter's Pi and the broker: unplugging it drops the Pi's
    connection and refuses new ones, as a lost Wi-Fi does, until it is plugged in again."""

    def __init__(self, target_port: int) -> None:
        self._target = target_port
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._server.getsockname()[1])
        self._plugged = True
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def unplug(self) -> None:
        with self._lock:
            self._plugged = False
            for conn in self._open:
                conn.close()
            self._open.clear()

    def plug(self) -> None:
        with self._lock:
            self._plugged = True

    def _accept(self) -> None:
        while True:
            client, _ = self._server.accept()
            with self._lock:
                if not self._plugged:
                    client.close()
                    continue
                upstream = socket.create_connection(("127.0.0.1", self._target))
                self._open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.close()


def free_port(preferred: int | None = None) -> int:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", preferred or 0))
        except OSError:
            sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: object, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except (OSError, httpx.HTTPError):
            pass
        time.sleep(0.2)
    raise SystemExit(f"demo: {what} did not come up; see {VAR}/*.log")


def hub_answers(hub: subprocess.Popen[bytes], url: str, token: str, timeout: float = 60) -> bool:
    """True once this hub answers with the demo's token; False if it exited first (most
    likely its port was taken)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if hub.poll() is not None:
            return False
        with contextlib.suppress(httpx.HTTPError):
            answer = httpx.get(f"{url}/api/v1/agents", headers={"Authorization": f"Bearer {token}"})
            if answer.status_code == 200:
                return True
        time.sleep(0.2)
    raise SystemExit(f"demo: the hub did not come up; see {VAR}/hub.log")


def stop() -> int:
    """`make demo-stop`: end every process a demo recorded, and nothing else."""
    if not PIDS.exists():
        print("demo-stop: no demo is running")
        return 0
    pids = [int(line) for line in PIDS.read_text().split()]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    for pid in pids:
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.1)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    PIDS.unlink(missing_ok=True)
    print(f"demo-stop: stopped {len(pids)} processes")
    return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie child of a demo that is itself gone counts as ended
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except OSError:
        return False


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long")
    parser.add_argument("--stop", action="store_true", help="stop a running demo")
    args = parser.parse_args()
    if args.stop:
        return stop()
    if PIDS.exists():
        stop()  # a demo left running from another terminal
    shutil.rmtree(VAR, ignore_errors=True)
    VAR.mkdir(parents=True)
    procs: list[subprocess.Popen[bytes]] = []

    def spawn(
        name: str, argv: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        with open(VAR / f"{name}.log", "ab") as log:
            procs.append(
                subprocess.Popen(
                    argv, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
                )
            )
        PIDS.write_text("\n".join(str(p.pid) for p in [*procs]) + f"\n{os.getpid()}\n")
        return procs[-1]

    hub_cli = [sys.executable, "-m", "hub"]
    broker_dir = VAR / "broker"
    tls_port, local_port, api_port = free_port(), free_port(), free_port(8080)
    run_as = ["--run-as", "root"] if os.geteuid() == 0 else []
    subprocess.run(
        [
            *(*hub_cli, "ca", "init", "--broker-dir", str(broker_dir)),
            *("--broker-host", "127.0.0.1", "--tls-port", str(tls_port)),
            *("--tls-bind", "127.0.0.1", "--local-port", str(local_port), *run_as),
        ],
        check=True,
        capture_output=True,
    )
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    spawn("mosquitto", [mosquitto, "-c", str(broker_dir / "mosquitto.conf")])
    config = VAR / "hub.toml"

    def configure(api_port: int) -> None:
        config.write_text(
            f'database_url = "sqlite:///{VAR}/hub.db"\n'
            f'[mqtt]\nport = {local_port}\nusername = "hub"\n'
            'password_credential = "hub-mqtt-password"\n'
            f'[api]\nhost = "127.0.0.1"\nport = {api_port}\n'
        )

    configure(api_port)
    with_config = ["--config", str(config)]
    data = VAR / "reference"
    data.mkdir()
    for kind, rows in reference(datetime.now(UTC)).items():
        (data / f"{kind}.json").write_text(json.dumps(rows))
        subprocess.run(
            [*hub_cli, "import", kind, str(data / f"{kind}.json"), *with_config],
            check=True,
            capture_output=True,
        )
    person = ("--username", OPERATOR, "--role", "operator", "--password-stdin")
    subprocess.run(
        [*hub_cli, "users", *with_config, "create", *person],
        input=PASSWORD.encode() + b"\n",
        check=True,
        capture_output=True,
    )
    # A token only this demo's hub knows tells it apart from another process that took
    # the port after free_port() looked (a second demo, say): then it tries another port.
    made = subprocess.run(
        [*hub_cli, "tokens", *with_config, "create", "--role", "viewer", "--name", "demo"],
        check=True,
        capture_output=True,
        text=True,
    )
    token = made.stdout.split()[-1]
    for attempt in range(3):
        if attempt:
            api_port = free_port()
            configure(api_port)
        url = f"http://127.0.0.1:{api_port}"
        hub = spawn(
            "hub", [*hub_cli, "serve", *with_config], {"CREDENTIALS_DIRECTORY": str(broker_dir)}
        )
        if hub_answers(hub, url, token):
            break
    else:
        raise SystemExit(f"demo: the hub could not listen on a port; see {VAR}/hub.log")

    cable = Cable(tls_port)
    for agent_id, (name, mode) in STATIONS.items():
        bundle = broker_dir / "agents" / agent_id
        subprocess.run(
            [
                *(*hub_cli, "agents", "provision", agent_id, *with_config),
                *("--broker-dir", str(broker_dir), "--broker-host", "127.0.0.1"),
                *("--tls-port", str(cable.port if agent_id == PORTER else tls_port)),
                *("--station", name, "--mode", mode, "--hub-url", url),
                *("--install-dir", str(bundle)),
            ],
            check=True,
            capture_output=True,
        )
        env = {
            "CREDENTIALS_DIRECTORY": str(bundle / "credentials"),
            "SCANTRAIL_AGENT__DATA_DIR": str(VAR / agent_id),
            "SCANTRAIL_AGENT__REFERENCE__INTERVAL_S": "5",
            # Every station runs on the hub's host: its clock is the hub's own.
            "SCANTRAIL_AGENT__STATION__CLOCK": "host",
        }
        spawn(
            agent_id,
            [sys.executable, "-m", "agent", "run", "--config", str(bundle / "agent.toml")],
            env,
        )
    for agent_id in STATIONS:
        wait_until((VAR / agent_id / "agent.sock").exists, f"agent {agent_id}")

    print(f"\nscantrail demo is running.\n  dashboard:  {url}/")
    print(f"  sign in:    {OPERATOR} / {PASSWORD}  (an operator)")
    print(f"  API docs:   {url}/api/v1/docs   broker: mqtts://127.0.0.1:{tls_port}")
    print(f"  logs:       {VAR}/\nPress Ctrl-C or run `make demo-stop` to stop.\n", flush=True)

    stopping = False

    def on_signal(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    started = time.monotonic()
    rng = random.Random()

    def scan(agent_id: str, code: str) -> None:
        """As a scanner would: through the agent's control socket (`scantrail-agent scan`)."""
        message = {"op": "scan", "text": code, "scanner_id": "demo"}
        answer = request(VAR / agent_id / "agent.sock", message)
        print(f"{agent_id:>14} scanned {code:<14} -> {json.dumps(answer)}", flush=True)

    def running() -> bool:
        return not stopping and (args.seconds is None or time.monotonic() - started < args.seconds)

    offline_until = None
    try:
        for agent_id, code in shift():
            if not running():
                break
            if offline_until is not None and time.monotonic() >= offline_until:
                cable.plug()
                print(f"{PORTER:>14} back on the network: it catches up", flush=True)
                offline_until = None
            if code == "offline":
                cable.unplug()
                offline_until = time.monotonic() + OFFLINE_S
                print(f"{PORTER:>14} lost the network for {OFFLINE_S:.0f} s", flush=True)
                continue
            scan(agent_id, code)
            time.sleep(rng.uniform(0.05, 0.3))
        assets = [f"AST-{n:03d}" for n in range(1, 21)]
        rooms = [f"LOC-ROOM-{n:02d}" for n in range(1, 11)]
        while running():
            if offline_until is not None and time.monotonic() >= offline_until:
                cable.plug()
                print(f"{PORTER:>14} back on the network: it catches up", flush=True)
                offline_until = None
            scan(PORTER, rng.choice(assets))
            scan(PORTER, rng.choice(rooms))
            time.sleep(rng.uniform(2, 5))
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        PIDS.unlink(missing_ok=True)
    print(f"demo stopped; the hub database is {VAR}/hub.db")
    return 0


if __name__ == "__main__":
    sys.exit(main())
