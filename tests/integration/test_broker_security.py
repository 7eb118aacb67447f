"""Broker security (issue 15): a site set up with `scantrail-hub ca init` and agents
provisioned with `agents provision` speak over TLS with their own logins; the ACL lets an
agent publish only under its own topics; `agents revoke` refuses it from then on."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

import agent.settings
from hub.__main__ import main as hub_main
from tests.harness.mosquitto import MOSQUITTO
from tests.harness.processes import AgentProcess, HubProcess
from tests.harness.waiting import free_port, port_open, wait_for

pytestmark = pytest.mark.integration
NOT_AUTHORIZED = 0x87


class Site:
    def __init__(self, tmp_path: Path) -> None:
        self.dir = tmp_path / "broker"  # what the broker reads
        self.site_dir = tmp_path / "site"  # the CA's key, the hub's secrets, the bundles
        self.tls_port, self.local_port = free_port(), free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def init(self) -> None:
        run_as = ["--run-as", "root"] if os.geteuid() == 0 else []
        assert (
            hub_main(
                [
                    *("ca", "init", *self.folders),
                    *("--broker-host", "127.0.0.1", "--broker-host", "localhost"),
                    *("--tls-port", str(self.tls_port), "--local-port", str(self.local_port)),
                    *("--tls-bind", "127.0.0.1"),
                    *run_as,
                ]
            )
            == 0
        )
        with open(self.dir / "stderr.log", "wb") as stderr:
            self.proc = subprocess.Popen(
                [MOSQUITTO, "-c", str(self.dir / "mosquitto.conf")],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        wait_for(self._up, timeout=15)

    @property
    def folders(self) -> list[str]:
        return ["--broker-dir", str(self.dir), "--site-dir", str(self.site_dir)]

    def bundle(self, name: str) -> Path:
        return self.site_dir / "bundles" / name

    def _up(self) -> None:
        assert self.proc is not None and self.proc.poll() is None, (
            self.dir / "stderr.log"
        ).read_text()
        try:
            port_open(self.tls_port)
        except OSError as exc:
            raise AssertionError(str(exc)) from exc

    def hub(self, workdir: Path, database_url: str, https: bool = False) -> HubProcess:
        """A hub that logs in as `hub` over TLS, its password a systemd credential;
        ``https``: it serves its API with the certificate `ca init` issued it."""
        sections: dict[str, dict[str, Any]] = {
            "mqtt": {
                "username": "hub",
                "password_credential": "hub-mqtt-password",
                "tls_ca": str(self.dir / "ca.crt"),
            }
        }
        if https:
            files = {"tls_cert": "hub.crt", "tls_key": "hub.key"}
            sections["api"] = {key: str(self.site_dir / name) for key, name in files.items()}
        hub = HubProcess(workdir, database_url, self.tls_port, extra=sections)
        hub.env = {"CREDENTIALS_DIRECTORY": str(self.site_dir)}
        if https:
            hub.trust(self.site_dir / "ca.crt")
        return hub

    def agent(
        self,
        workdir: Path,
        agent_id: str,
        bundle: Path,
        login: str,
        reference: dict[str, Any] | None = None,
    ) -> AgentProcess:
        """An agent with ``login``'s credentials from ``bundle``, over TLS (and its
        ``reference`` section, if given)."""
        mqtt_section = {
            "host": "127.0.0.1",
            "port": self.tls_port,
            "username": login,
            "password_credential": "scantrail-mqtt-password",
            "tls_ca": str(bundle / "ca.crt"),
            "reconnect_max_s": 2,
        }
        sections = {"mqtt": mqtt_section, **({"reference": reference} if reference else {})}
        made = AgentProcess(workdir, agent_id, self.tls_port, extra=sections)
        made.env = {"CREDENTIALS_DIRECTORY": str(bundle / "credentials")}
        return made

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def client(self, username: str | None, password: str | None) -> tuple[mqtt.Client, Any]:
        """A v5 client over TLS; the second value is its CONNACK reason code, once known."""
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"probe-{username}",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        if username:
            client.username_pw_set(username, password)
        client.tls_set(ca_certs=str(self.dir / "ca.crt"))
        answered = threading.Event()
        result: dict[str, Any] = {}

        def on_connect(c: Any, u: Any, flags: Any, rc: Any, props: Any) -> None:
            result["rc"] = rc
            answered.set()

        client.on_connect = on_connect
        client.connect("127.0.0.1", self.tls_port)
        client.loop_start()
        assert answered.wait(15), "no CONNACK"
        return client, result["rc"]


def _publish_reason(client: mqtt.Client, topic: str) -> int:
    """The PUBACK reason code the broker answers a QoS 1 publish with."""
    acked = threading.Event()
    reasons: list[int] = []

    def on_publish(c: Any, u: Any, mid: int, rc: Any, props: Any) -> None:
        reasons.append(int(rc.value))
        acked.set()

    client.on_publish = on_publish
    client.publish(topic, b"{}", qos=1)
    assert acked.wait(15), "no PUBACK"
    return reasons[0]


def test_an_agent_reads_nothing_of_another_and_plain_tcp_gets_no_session(
    tmp_path: Path, sqlite_url: str
) -> None:
    """pi-b subscribed to pi-a's scans and ack, and to everything, receives none of pi-a's
    messages, yet gets its own ack published after them; a client that does not speak TLS
    to the TLS port never gets a CONNACK."""
    site = Site(tmp_path)
    site.init()
    hub = HubProcess(tmp_path / "hub", sqlite_url, site.tls_port)  # only for provisioning
    try:
        _provision(site, hub, "pi-a")
        _provision(site, hub, "pi-b")
        secret = {
            name: (site.bundle(name) / "credentials" / "scantrail-mqtt-password")
            .read_text()
            .strip()
            for name in ("pi-a", "pi-b")
        }
        hub_password = (site.site_dir / "hub-mqtt-password").read_text().strip()
        as_b, rc = site.client("pi-b", secret["pi-b"])
        assert not rc.is_failure
        received: list[str] = []
        own_ack = threading.Event()

        def on_message(c: Any, u: Any, message: mqtt.MQTTMessage) -> None:
            received.append(message.topic)
            if message.topic == "scantrail/v1/agents/pi-b/ack":
                own_ack.set()

        as_b.on_message = on_message
        subscribed = threading.Event()
        as_b.on_subscribe = lambda *args: subscribed.set()
        as_b.subscribe(
            [
                ("scantrail/v1/agents/pi-a/scans", 1),
                ("scantrail/v1/agents/pi-a/ack", 1),
                ("#", 1),
                ("scantrail/v1/agents/pi-b/ack", 1),
            ]
        )
        assert subscribed.wait(15)
        as_a, _ = site.client("pi-a", secret["pi-a"])
        assert _publish_reason(as_a, "scantrail/v1/agents/pi-a/scans") < 0x80
        as_hub, _ = site.client("hub", hub_password)
        assert _publish_reason(as_hub, "scantrail/v1/agents/pi-a/ack") < 0x80
        assert _publish_reason(as_hub, "scantrail/v1/agents/pi-b/ack") < 0x80
        assert own_ack.wait(15), received
        assert [t for t in received if "/pi-a/" in t] == []
        for client in (as_a, as_b, as_hub):
            client.disconnect()
            client.loop_stop()

        plain = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="plain", protocol=MQTTProtocolVersion.MQTTv5
        )
        plain.username_pw_set("pi-a", secret["pi-a"])
        answered = threading.Event()
        plain.on_connect = lambda *args: answered.set()
        plain.connect("127.0.0.1", site.tls_port)
        plain.loop_start()
        assert not answered.wait(5)  # a TLS listener cannot read a plain CONNECT
        plain.loop_stop()
    finally:
        site.stop()


def test_an_agent_that_publishes_as_another_is_refused_and_keeps_its_scans(
    tmp_path: Path, sqlite_url: str
) -> None:
    """A Pi configured as pi-b but holding pi-a's login (a swapped SD card, or a forger):
    the broker answers its publishes with 0x87, the agent raises broker_refused, and its
    scans stay in its outbox; none reaches the hub."""
    site = Site(tmp_path)
    site.init()
    hub = site.hub(tmp_path / "hub", sqlite_url)
    forger: AgentProcess | None = None
    try:
        hub.start()
        bundle = _provision(site, hub, "pi-a")
        _provision(site, hub, "pi-b")
        forger = site.agent(tmp_path / "forger", "pi-b", bundle, "pi-a")
        forger.start()
        assert forger.scan("AST-1")["kept"] and forger.scan("AST-2")["kept"]

        def refused() -> None:
            status = forger.status() if forger else {}
            assert "broker_refused" in status["alarms"] and status["backlog"] == 2, status

        wait_for(refused, timeout=60)
        assert [s for s in hub.all_scans() if s["agent_id"] in ("pi-a", "pi-b")] == []
    finally:
        if forger is not None:
            forger.stop()
        hub.stop()
        site.stop()


def _provision(site: Site, hub: HubProcess, name: str, install_dir: Path | None = None) -> Path:
    """Provision ``name``; its agent.toml finds the CA in ``install_dir`` (default: the
    bundle itself)."""
    bundle = site.bundle(name)
    args = ["agents", "provision", name, "--config", str(hub.config), *site.folders]
    args += ["--broker-host", "127.0.0.1", "--tls-port", str(site.tls_port)]
    args += ["--station", f"Bench {name}", "--mode", "tray_assembly"]
    args += ["--hub-url", hub.base_url, "--install-dir", str(install_dir or bundle)]
    assert hub_main(args) == 0
    return bundle


def test_agents_speak_only_for_themselves_and_a_revoked_one_is_refused(
    tmp_path: Path, sqlite_url: str
) -> None:
    """Anonymous and wrong-password logins are refused; a provisioned agent's scans reach
    the hub over TLS; its login publishing under another agent's topic gets PUBACK 0x87;
    after `agents revoke` its next publish is refused (the agent keeps the scan and raises
    an alarm), it cannot log in again, and its API token is refused."""
    site = Site(tmp_path)
    site.init()
    hub = site.hub(tmp_path / "hub", sqlite_url)
    runner: AgentProcess | None = None
    try:
        hub.start()
        bundle = _provision(site, hub, "pi-a")
        _provision(site, hub, "pi-b")
        settings = agent.settings.load_settings(bundle / "agent.toml")
        assert (settings.agent_id, settings.mqtt.username) == ("pi-a", "pi-a")
        password = (bundle / "credentials" / "scantrail-mqtt-password").read_text().strip()

        anonymous, refused = site.client(None, None)
        wrong, also_refused = site.client("pi-a", "not-its-password")
        stranger, unknown = site.client("pi-c", password)  # a login nobody provisioned
        assert refused.is_failure and also_refused.is_failure and unknown.is_failure
        for probe in (anonymous, wrong, stranger):
            probe.loop_stop()

        # pi-a's own login: another agent's topic is refused, its own is taken.
        as_a, rc = site.client("pi-a", password)
        assert not rc.is_failure
        assert _publish_reason(as_a, "scantrail/v1/agents/pi-b/scans") == NOT_AUTHORIZED
        assert _publish_reason(as_a, "scantrail/v1/agents/pi-a/health") < 0x80
        as_a.disconnect()
        as_a.loop_stop()

        runner = site.agent(tmp_path / "agent", "pi-a", bundle, "pi-a")
        runner.start()
        assert runner.scan("AST-7")["kept"]

        def delivered() -> None:  # at the hub, and the agent has its ack
            assert hub.agent_row("pi-a")["confirmed_seq"] == 1
            assert runner is not None and runner.status()["backlog"] == 0

        wait_for(delivered, timeout=60)

        token = (bundle / "credentials" / "scantrail-hub-token").read_text().strip()
        revoke = ["agents", "revoke", "pi-a", "--config", str(hub.config)]
        assert hub_main([*revoke, *site.folders]) == 0
        assert not bundle.exists()  # its secrets are nowhere on the hub any more

        # mosquitto drops a connection whose login a reload removed; the agent cannot log in
        # again and says so in its status, and keeps what is scanned for when it can.
        def refused(backlog: int) -> None:
            status = runner.status() if runner else {}
            assert "broker_login_refused" in status["alarms"], status
            assert status["backlog"] == backlog, status

        wait_for(lambda: refused(0), timeout=60)
        assert runner.scan("AST-8")["kept"]
        wait_for(lambda: refused(1), timeout=30)
        assert hub.agent_row("pi-a")["confirmed_seq"] == 1
        runner.stop()
        runner = None
        again, rc = site.client("pi-a", password)
        again.loop_stop()
        assert rc.is_failure
        answer = httpx.get(
            f"{hub.base_url}/api/v1/reference", headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 401
        assert "pi-a" not in (site.dir / "acl").read_text()
    finally:
        if runner is not None:
            runner.stop()
        hub.stop()
        site.stop()
