"""`make demo`: mosquitto on loopback, the hub on a SQLite file, simulated stations scanning.

Runs until Ctrl-C (or for --seconds). Everything lives under var/demo/ and listens on
127.0.0.1 only. Stops only the processes it started, by PID.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var" / "demo"

DATA = ROOT / "deploy" / "demo-data"
# Reference data in the order each kind's references need: a location's parent first, an
# asset's model before it. Cases are made at start, scheduled in the next hours.
KINDS = ("locations", "staff", "sterilizers", "instruments", "trays", "asset_models", "assets")
DEMO_USER, DEMO_PASSWORD = "demo", "scantrail-demo"  # an admin account, for this demo only


def cases(now: datetime) -> list[dict[str, object]]:
    return [
        {
            "code": f"CASE-{88 + n}",
            "room": "LOC-OR-3" if n % 2 == 0 else "LOC-OR-4",
            "scheduled_start": (now + timedelta(minutes=45 + 70 * n)).isoformat(),
            "procedure": ("Laparotomy", "Excision of a lesion", "Hernia repair")[n % 3],
            "trays": ["TRY-0007"] if n % 2 == 0 else ["TRY-0008"],
        }
        for n in range(6)
    ]


def sterilizer() -> Iterator[str]:
    """Loads of both trays; every third load's biological indicator fails: a recall."""
    for load in itertools.count(1):
        number = 1140 + load
        yield from ("USR-0102", "STE-02", f"STE-02.{number}", "CMD-TYPE-PREVAC")
        yield from ("CMD-EXPOSURE-4", "CMD-TEMP-134", "TRY-0007", "TRY-0008")
        yield from ("CMD-CI-PASS", "CMD-CYCLE-PASS", f"STE-02.{number}")
        yield "CMD-BI-FAIL" if load % 3 == 0 else "CMD-BI-PASS"


def tray_bench() -> Iterator[str]:
    """TRY-0007 complete; TRY-0008 now and then closed short of its scalpel handle."""
    for round_ in itertools.count(1):
        yield from ("USR-0101", "TRY-0007", "INS-1001", "INS-1002", "INS-1003", "CMD-COMPLETE")
        yield from ("TRY-0008", "INS-1004")
        if round_ % 2:
            yield "INS-1005"
        yield "CMD-COMPLETE"


def operating_room() -> Iterator[str]:
    for n in itertools.cycle(range(6)):
        tray = "TRY-0007" if n % 2 == 0 else "TRY-0008"
        yield from ("USR-0103", f"CASE-{88 + n}", tray, "INS-1001", "CMD-DONE")


def porter() -> Iterator[str]:
    while True:
        yield from ("USR-0104", "AST-V12", "AST-P03", "LOC-ICU-BAY4")
        yield from ("AST-V12", "LOC-EQUIP", "AST-P03", "LOC-OR-3", "AST-V13", "LOC-SPD-STORE")


STATIONS: dict[str, tuple[str, str, Callable[[], Iterator[str]]]] = {
    "pi-steril-02": ("Sterilizer 2", "sterilizer", sterilizer),
    "pi-tray-01": ("Tray bench 1", "tray_assembly", tray_bench),
    "pi-or-03": ("OR 3", "point_of_use", operating_room),
    "pi-porter-01": ("Porter desk", "asset_move", porter),
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
    hub_cli = [sys.executable, "-m", "hub"]
    config = ["--config", str(VAR / "hub.toml")]
    (VAR / "cases.json").write_text(json.dumps(cases(datetime.now(UTC))))
    for kind, source in [*((k, DATA / f"{k}.json") for k in KINDS), ("cases", VAR / "cases.json")]:
        subprocess.run([*hub_cli, "import", kind, str(source), *config], check=True)
    person = ("--username", DEMO_USER, "--role", "admin", "--password-stdin")
    subprocess.run(
        [*hub_cli, "users", *config, "create", *person],
        input=DEMO_PASSWORD + "\n",
        text=True,
        check=True,
        capture_output=True,
    )
    spawn("hub", [*hub_cli, "serve", *config])
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
    print(f"\nscantrail demo is running.\n  dashboard:  {url}/")
    print(f"  sign in:    {DEMO_USER} / {DEMO_PASSWORD}  (or with the token below)")
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
    scripts = {a: story() for a, (_, _, story) in STATIONS.items()}
    try:
        while not stop and (args.seconds is None or time.monotonic() - started < args.seconds):
            agent_id = rng.choice(list(STATIONS))
            code = next(scripts[agent_id])
            done = subprocess.run(
                [sys.executable, "-m", "agent", "scan", "--config", str(configs[agent_id]), code],
                capture_output=True,
                text=True,
            )
            print(f"{agent_id:>14} scanned {code:<14} -> {done.stdout.strip()}", flush=True)
            time.sleep(rng.uniform(0.1, 0.5))
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
