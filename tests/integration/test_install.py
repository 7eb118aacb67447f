"""Install (issue 15): the provisioning round trip through deploy/install-agent.sh into a
temporary root, the installed agent's scans at the hub over TLS, and systemd-analyze on
every unit it installed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.harness.processes import AgentProcess
from tests.harness.waiting import wait_for
from tests.integration.test_broker_security import Site, _provision

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _verify(root: Path, *units: str) -> str:
    """systemd-analyze verify on units installed under ``root``; what it complained about.
    The root gets a copy of this system's own units (sysinit.target and the rest), which a
    unit's dependencies need, as an installed system has them."""
    system = root / "usr" / "lib" / "systemd" / "system"
    if not system.exists():
        shutil.copytree("/usr/lib/systemd/system", system, symlinks=True)
    done = subprocess.run(
        ["systemd-analyze", "verify", f"--root={root}", *units],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return (done.stdout + done.stderr).strip()


def test_a_provisioned_bundle_installs_and_its_agent_reaches_the_hub(
    tmp_path: Path, sqlite_url: str
) -> None:
    """Provision, install-agent.sh into a DESTDIR (twice: again without harm), start the
    agent from the installed venv, config and credentials against the TLS broker, and see
    its scan at the hub; systemd-analyze verify finds nothing wrong with the units."""
    site = Site(tmp_path)
    site.init()
    hub = site.hub(tmp_path / "hub", sqlite_url)
    staged = tmp_path / "root"
    installed: AgentProcess | None = None
    try:
        hub.start()
        bundle = _provision(site, hub, "pi-inst", install_dir=staged / "etc" / "scantrail")
        env = {**os.environ, "DESTDIR": str(staged), "PYTHON": sys.executable}
        for _ in range(2):
            done = subprocess.run(
                ["bash", str(ROOT / "deploy" / "install-agent.sh"), str(bundle)],
                env=env,
                capture_output=True,
                text=True,
                timeout=900,
            )
            assert done.returncode == 0, done.stdout + done.stderr
        etc = staged / "etc" / "scantrail"
        assert (etc / "credentials" / "scantrail-mqtt-password").stat().st_mode & 0o077 == 0
        unit = staged / "etc" / "systemd" / "system" / "scantrail-agent.service"
        assert _verify(staged, str(unit)) == ""

        installed = AgentProcess(tmp_path / "run", "pi-inst", site.tls_port)
        installed.argv = [
            str(staged / "opt" / "scantrail" / "venv" / "bin" / "scantrail-agent"),
            *("run", "--config", str(etc / "agent.toml")),
        ]
        installed.socket = tmp_path / "data" / "agent.sock"
        installed.env = {
            "CREDENTIALS_DIRECTORY": str(etc / "credentials"),
            "SCANTRAIL_AGENT__DATA_DIR": str(tmp_path / "data"),
            "SCANTRAIL_AGENT__STATION__MODE": "asset_move",
        }
        installed.start()
        assert installed.scan("AST-9")["kept"]
        wait_for(lambda: hub.agent_row("pi-inst")["confirmed_seq"] == 1, timeout=60)
    finally:
        if installed is not None:
            installed.stop()
        hub.stop()
        site.stop()


def test_install_hub_stages_the_hub_and_its_broker_and_their_units_verify(
    tmp_path: Path,
) -> None:
    """install-hub.sh into a DESTDIR (twice: again without harm, keeping the site's CA and
    an edited hub.toml) installs the hub's venv, config, the broker's CA, logins and ACL,
    and units that systemd-analyze verify finds nothing wrong with."""
    staged = tmp_path / "root"
    env = {**os.environ, "DESTDIR": str(staged), "PYTHON": sys.executable}
    ca = staged / "etc" / "scantrail" / "site" / "ca.crt"
    config = staged / "etc" / "scantrail" / "hub.toml"
    for run in range(2):
        done = subprocess.run(
            ["bash", str(ROOT / "deploy" / "install-hub.sh"), "hub.example", "127.0.0.1"],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        if run == 0:
            first_ca = ca.read_bytes()
            config.write_text(config.read_text() + "\n# edited by the site\n")
    assert ca.read_bytes() == first_ca and config.read_text().endswith("# edited by the site\n")
    assert 'username = "hub"' in config.read_text()
    served = tomllib.loads(config.read_text())["api"]
    assert served["port"] == 8443 and served["tls_cert"].endswith("scantrail-hub.service/hub.crt")
    broker = staged / "etc" / "mosquitto" / "scantrail"
    assert (broker / "acl").read_text().startswith("# Written by scantrail-hub")
    assert sorted(p.name for p in broker.iterdir()) == [
        "acl",
        "broker.crt",
        "broker.key",
        "ca.crt",
        "mosquitto.conf",
        "passwd",
    ]  # the CA's key and the hub's secrets are in the site folder
    assert (ca.parent / "ca.key").exists() and (ca.parent / "hub.key").exists()
    assert (ca.parent.stat().st_mode & 0o077) == 0
    assert "/var/lib/scantrail-mosquitto/" in (broker / "mosquitto.conf").read_text()
    # What Debian itself provides on a real hub: mosquitto, and kill for its reload.
    for program in ("/usr/sbin/mosquitto", "/bin/kill"):
        target = staged / program.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(program, target)
    units = staged / "etc" / "systemd" / "system"
    assert _verify(staged, str(units / "scantrail-hub.service")) == ""
    assert _verify(staged, str(units / "scantrail-mosquitto.service")) == ""


@pytest.mark.parametrize("unit", ["scantrail-hub", "scantrail-mosquitto", "scantrail-agent"])
def test_every_unit_scantrail_installs_is_exposed_at_most_3_in_systemd_analyze_security(
    unit: str,
) -> None:
    """`systemd-analyze security` scores each unit at most 3.0 (the broker's was 8.2
    EXPOSED: no user of its own, no capability bounding, no system-call filter)."""
    path = ROOT / "systemd" / f"{unit}.service"
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    found = re.search(r"Overall exposure level for \S+: ([0-9.]+)", done.stdout + done.stderr)
    assert found is not None, done.stdout + done.stderr
    assert float(found[1]) <= 3.0, done.stdout
