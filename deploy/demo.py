"""`make demo`: a small hospital's shift on this machine, as it would run on real Pis.

mosquitto with TLS, one login per station and the ACL (made by `scantrail-hub ca init`),
the hub on SQLite, a small hospital's reference data, and four provisioned stations
(sterilizer, tray bench, OR, porter) that replay a shift: a tray closed short, a failed
biological indicator and its recall, a quarantined instrument caught at the OR, and a
porter's Pi that loses the network for two minutes and catches up. The terminal tells the
story a line per scan; then the stations go quiet until Ctrl-C or `make demo-stop`.

Only loopback is used. Everything it starts is written to var/demo/pids for demo-stop.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # chaos: the sterilizer
from demo_hospital import reference, tray, tray_contents

from agent.errors import ControlError
from agent.sources.socket_source import request
from chaos.sterilizer import FORMAT, Sterilizer, cycle

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
STERILIZER_STATION = "pi-steril-01"
LINES_PER_S = 60.0  # the sterilizer's seconds played faster: a cycle in about 7 s


@dataclass(frozen=True)
class Step:
    """One step of the story: a heading for the terminal, then (station, barcode) scans."""

    heading: str
    scans: tuple[tuple[str, str], ...] = ()
    first: Literal["", "await_quarantine", "unplug_porter"] = ""  # done before the scans
    # After the scans: Sterilizer 1 prints this cycle on its serial port, and the story
    # waits for the hub's verdict on load ``plays[0]``.
    plays: tuple[int, Literal["good", "dip"]] | None = None
    then: tuple[tuple[str, str], ...] = ()  # scanned once the verdict is in


def at(station: str, *codes: str) -> tuple[tuple[str, str], ...]:
    return tuple((station, code) for code in codes)


def story() -> list[Step]:
    """A morning's shift, in the order it is scanned."""
    load = ("CMD-TYPE-PREVAC", "CMD-EXPOSURE-4", "CMD-TEMP-134", "CMD-CI-PASS")
    return [
        Step(
            "Tray bench 1 assembles Basic laparotomy",
            at("pi-tray-01", "USR-0101", tray(1), *tray_contents(1), "CMD-COMPLETE"),
        ),
        Step(
            "Sterilizer 1 runs the day's Bowie-Dick test",
            at("pi-steril-01", "USR-0102", "STE-01", "STE-01.500", "CMD-TYPE-BOWIE-DICK")
            + at("pi-steril-01", "CMD-CYCLE-PASS"),
        ),
        Step(
            "Minor procedures is closed short: its last retractor is missing",
            at("pi-tray-01", tray(2), *tray_contents(2)[:-1], "CMD-COMPLETE"),
        ),
        Step(
            "Hernia set is assembled",
            at("pi-tray-01", tray(3), *tray_contents(3), "CMD-COMPLETE"),
        ),
        Step(
            "Loads STE-01.501 and STE-01.502 run and pass their cycles",
            at("pi-steril-01", "STE-01", "STE-01.501", *load, tray(1), tray(2), "CMD-CYCLE-PASS")
            + at("pi-steril-01", "STE-01", "STE-01.502", *load, tray(3), "CMD-CYCLE-PASS"),
        ),
        Step(
            "The porter moves two pumps to Ward room 1; STE-01.501's indicator passes",
            at("pi-porter-01", "USR-0104", "AST-001", "AST-002", "LOC-ROOM-01")
            + at("pi-steril-01", "STE-01.501", "CMD-BI-PASS"),
        ),
        Step(
            "STE-01.502's biological indicator fails: the load is quarantined and recalled",
            at("pi-steril-01", "STE-01.502", "CMD-BI-FAIL"),
        ),
        Step("OR 1 learns of the quarantine from the hub's notice", first="await_quarantine"),
        Step(
            "CASE-100 in OR 1 uses Basic laparotomy",
            at("pi-or-01", "USR-0103", "CASE-100", tray(1), tray_contents(1)[0], "CMD-DONE"),
        ),
        Step(
            "CASE-101: a scalpel handle from the quarantined load is scanned, and stopped",
            at("pi-or-01", "CASE-101", tray_contents(3)[0], "CMD-DONE"),
        ),
        Step(
            "Load STE-01.503 runs; Sterilizer 1's own record of the cycle is captured",
            at("pi-steril-01", "STE-01", "STE-01.503", "CMD-TYPE-PREVAC", tray(1)),
            plays=(503, "good"),
            then=at("pi-steril-01", "CMD-CYCLE-PASS"),
        ),
        Step(
            "Load STE-01.504: the sterilizer's record dips below 132 °C in exposure",
            at("pi-steril-01", "STE-01", "STE-01.504", "CMD-TYPE-PREVAC", tray(2)),
            plays=(504, "dip"),
            then=at("pi-steril-01", "CMD-CYCLE-FAIL"),
        ),
        Step(
            f"The porter's Pi loses the network for {OFFLINE_S:.0f} s; the porter keeps scanning",
            at("pi-porter-01", "AST-003", "LOC-ROOM-02", "AST-004", "AST-005", "LOC-OR-1"),
            first="unplug_porter",
        ),
    ]


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


def sterilizer_section(port: Path) -> str:
    """The ``[sterilizer]`` section of Sterilizer 1's station: its serial port and how its
    lines read (chaos/sterilizer.py prints them)."""
    phases = "".join(f'{word} = "{phase}"\n' for word, phase in FORMAT["phases"].items())
    return (
        f'\n[sterilizer]\ncode = "STE-01"\npath = "{port}"\nbaud = {FORMAT["baud"]}\n'
        f"format = \"{FORMAT['format']}\"\npattern = '{FORMAT['pattern']}'\n"
        f"\n[sterilizer.phases]\n{phases}"
    )


def catalogue_names(now: datetime) -> dict[str, str]:
    """What the terminal prints beside a code: its name in the hospital's reference data."""
    data = reference(now)
    found = {
        row["code"]: row["name"] for kind, rows in data.items() for row in rows if "name" in row
    }
    found.update({row["code"]: row["procedure"] for row in data["cases"]})
    found.update({row["code"]: row["model"] for row in data["assets"]})
    return found


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
    broker_dir, site_dir = VAR / "broker", VAR / "site"
    tls_port, local_port, api_port = free_port(), free_port(), free_port(8080)
    run_as = ["--run-as", "root"] if os.geteuid() == 0 else []
    subprocess.run(
        [
            *(*hub_cli, "ca", "init", "--broker-dir", str(broker_dir)),
            *("--site-dir", str(site_dir)),
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
            "hub", [*hub_cli, "serve", *with_config], {"CREDENTIALS_DIRECTORY": str(site_dir)}
        )
        if hub_answers(hub, url, token):
            break
    else:
        raise SystemExit(f"demo: the hub could not listen on a port; see {VAR}/hub.log")

    cable = Cable(tls_port)
    sterilizer = Sterilizer(VAR / "usb-Sterilizer_1-if00-port0")
    for agent_id, (name, mode) in STATIONS.items():
        bundle = site_dir / "bundles" / agent_id
        subprocess.run(
            [
                *(*hub_cli, "agents", "provision", agent_id, *with_config),
                *("--broker-dir", str(broker_dir), "--site-dir", str(site_dir)),
                *("--broker-host", "127.0.0.1"),
                *("--tls-port", str(cable.port if agent_id == PORTER else tls_port)),
                *("--station", name, "--mode", mode, "--hub-url", url),
                *("--install-dir", str(bundle)),
            ],
            check=True,
            capture_output=True,
        )
        if agent_id == STERILIZER_STATION:
            with open(bundle / "agent.toml", "a") as toml:
                toml.write(sterilizer_section(sterilizer.link))
        env = {
            "CREDENTIALS_DIRECTORY": str(bundle / "credentials"),
            "SCANTRAIL_AGENT__DATA_DIR": str(VAR / agent_id),
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
    names = catalogue_names(datetime.now(UTC))

    def scan(agent_id: str, code: str) -> None:
        """As a scanner would: through the agent's control socket (`scantrail-agent scan`)."""
        message = {"op": "scan", "text": code, "scanner_id": "demo"}
        try:
            answer = request(VAR / agent_id / "agent.sock", message)
        except ControlError as exc:
            if not stopping:  # demo-stop ends the stations while the story is told
                print(f"  {STATIONS[agent_id][0]:<13} · {code} → not scanned: {exc}", flush=True)
            return
        said = answer.get("message") or answer.get("outcome", "")
        where = STATIONS[agent_id][0]
        name = names.get(code, "")
        scanned = code if not name or name in said else f"{code} {name}"
        print(f"  {where:<13} · {scanned} → {said}", flush=True)

    def status(agent_id: str) -> dict[str, Any]:
        return request(VAR / agent_id / "agent.sock", {"op": "status"})

    def load(number: int) -> dict[str, Any]:
        answer = httpx.get(
            f"{url}/api/v1/loads/STE-01.{number}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        return dict(answer.json()) if answer.status_code == 200 else {}

    def play(number: int, kind: Literal["good", "dip"]) -> None:
        """Sterilizer 1 prints the cycle; the hub judges it; a failed one reaches the
        station's screen before anyone releases the load."""
        lines = cycle(number, kind)
        print(f"  Sterilizer 1 prints cycle {number}: {len(lines)} lines", flush=True)
        sterilizer.play(lines, LINES_PER_S)
        if until(lambda: (load(number).get("physical") or {}).get("result"), 60) is None:
            print("  the hub has not judged it yet", flush=True)
            return
        judged = load(number)["physical"]
        held = judged["exposure_held_s"]
        said = (
            f"passed: exposure held {held // 60:.0f} min {held % 60:.0f} s at "
            f"{judged['set_c']:g} °C or above"
            if judged["result"] == "pass"
            else f"FAILED: {'; '.join(judged['reasons'])}"
        )
        print(f"  the hub judged it {said}", flush=True)
        if judged["result"] == "fail":
            screen = lambda: status(STERILIZER_STATION)["sterilizer"]["screen"]  # noqa: E731
            if until(lambda: screen() and f"STE-01.{number}" in screen(), 30) is not None:
                print(f"  Sterilizer 1's screen: STOP. {screen()}", flush=True)

    def running() -> bool:
        return not stopping and (args.seconds is None or time.monotonic() - started < args.seconds)

    def until(check: Any, limit_s: float) -> float | None:
        """Seconds until ``check()`` held, or None if it did not within the limit."""
        begun = time.monotonic()
        while running() and time.monotonic() - begun < limit_s:
            with contextlib.suppress(OSError, KeyError, ControlError):
                if check():
                    return time.monotonic() - begun
            time.sleep(0.1)
        return None

    try:
        steps = story()
        for number, step in enumerate(steps, 1):
            if not running():
                break
            print(f"\n{number}. {step.heading}", flush=True)
            if step.first == "await_quarantine":
                took = until(lambda: status("pi-or-01")["reference"]["blocked"] > 0, 30)
                print(
                    f"  OR 1 holds the quarantine after {took:.1f} s"
                    if took is not None
                    else "  OR 1 has not heard of it yet: its next poll will bring it"
                )
            if step.first == "unplug_porter":
                cable.unplug()
            for agent_id, code in step.scans:
                scan(agent_id, code)
                time.sleep(0.2)
            if step.plays is not None:
                play(*step.plays)
            for agent_id, code in step.then:
                scan(agent_id, code)
        if running():
            until(lambda: False, OFFLINE_S)  # the porter's two minutes away
            cable.plug()
            print(f"\n{len(steps) + 1}. The porter's Pi is back: it sends what it kept", flush=True)
            took = until(lambda: status(PORTER)["backlog"] == 0, 120)
            if took is not None:
                print(f"  caught up in {took:.1f} s: every kept scan reached the hub", flush=True)
            print(
                f"\nThe story is told. Read it at {url}/ (the stations are quiet now).", flush=True
            )
        while running():
            time.sleep(0.5)
    finally:
        sterilizer.close()
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
