"""`make demo`: mosquitto on loopback, the hub on a SQLite file, simulated stations scanning.

Runs until Ctrl-C (or for --seconds). Everything lives under var/demo/ and listens on
127.0.0.1 only. Stops only the processes it started, by PID.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var" / "demo"

STATIONS = {
    "pi-steril-01": (
        "Sterilizer 2",
        "sterilizer",
        ["STE-02", "TRY-0007", "INS-1001", "INS-1002", "CMD-CYCLE-PASS"],
    ),
    "pi-tray-01": (
        "Tray bench 1",
        "tray_assembly",
        ["TRY-0007", "INS-1001", "INS-1003", "CMD-COMPLETE"],
    ),
    "pi-or-03": ("OR 3", "point_of_use", ["CASE-88", "INS-1001", "INS-1002", "CMD-DONE"]),
    "pi-porter-01": ("Porter desk", "asset_move", ["AST-V12", "LOC-ICU-BAY4"]),
}


def free_port(preferred: int | None = None) -> int:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", preferred or 0))
        except OSError:
            sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: object, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except (OSError, httpx.HTTPError):
            pass
        time.sleep(0.2)
    raise SystemExit(f"demo: {what} did not come up; see {VAR}/*.log")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long")
    args = parser.parse_args()
    shutil.rmtree(VAR, ignore_errors=True)
    VAR.mkdir(parents=True)
    broker_port, api_port = free_port(), free_port(8080)
    procs: list[subprocess.Popen[bytes]] = []

    def spawn(name: str, argv: list[str]) -> None:
        with open(VAR / f"{name}.log", "ab") as log:
            procs.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT))

    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    (VAR / "mosquitto.conf").write_text(
        f"listener {broker_port} 127.0.0.1\nallow_anonymous true\n"
        + ("user root\n" if os.geteuid() == 0 else "")
    )
    spawn("mosquitto", [mosquitto, "-c", str(VAR / "mosquitto.conf")])
    (VAR / "hub.toml").write_text(
        f'database_url = "sqlite:///{VAR}/hub.db"\n[mqtt]\nport = {broker_port}\n'
        f'[api]\nhost = "127.0.0.1"\nport = {api_port}\n'
    )
    spawn("hub", [sys.executable, "-m", "hub", "serve", "--config", str(VAR / "hub.toml")])
    url = f"http://127.0.0.1:{api_port}"
    wait_until(lambda: httpx.get(f"{url}/healthz").status_code == 200, "the hub")
    configs = {}
    for agent_id, (name, mode, _) in STATIONS.items():
        config = VAR / f"{agent_id}.toml"
        config.write_text(
            f'agent_id = "{agent_id}"\ndata_dir = "{VAR / agent_id}"\n'
            f'[mqtt]\nport = {broker_port}\n[station]\nname = "{name}"\nmode = "{mode}"\n'
            "[delivery]\nhealth_interval_s = 2.0\n"
        )
        configs[agent_id] = config
        spawn(agent_id, [sys.executable, "-m", "agent", "run", "--config", str(config)])
    for agent_id in STATIONS:
        sock = VAR / agent_id / "agent.sock"
        wait_until(sock.exists, f"agent {agent_id}")

    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "hub",
            "tokens",
            "create",
            "--config",
            str(VAR / "hub.toml"),
            "--role",
            "admin",
            "--name",
            "demo",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    token = made.stdout.split()[-1]
    print(f"\nscantrail demo is running.\n  dashboard:  {url}/  (sign in with the token below)")
    print(f"  API docs:   {url}/api/v1/docs\n  admin token (demo only): {token}")
    print(f'  try:       curl -H "Authorization: Bearer {token}" {url}/api/v1/agents')
    print(f"  logs:       {VAR}/\nPress Ctrl-C to stop.\n", flush=True)

    stop = False

    def on_signal(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    started = time.monotonic()
    rng = random.Random()
    cycles = {a: itertools.cycle(codes) for a, (_, _, codes) in STATIONS.items()}
    try:
        while not stop and (args.seconds is None or time.monotonic() - started < args.seconds):
            agent_id = rng.choice(list(STATIONS))
            code = next(cycles[agent_id])
            done = subprocess.run(
                [sys.executable, "-m", "agent", "scan", "--config", str(configs[agent_id]), code],
                capture_output=True,
                text=True,
            )
            print(f"{agent_id:>14} scanned {code:<14} -> {done.stdout.strip()}", flush=True)
            time.sleep(rng.uniform(0.3, 1.2))
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
    print(f"demo stopped; the hub database is {VAR}/hub.db")
    return 0


if __name__ == "__main__":
    sys.exit(main())
