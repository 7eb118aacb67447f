"""The agent's offline commands: decode and check-config."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def _agent(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent", *args], capture_output=True, text=True, timeout=60
    )


def test_decode_prints_json_and_exits_0_for_a_good_label() -> None:
    """`decode` accepts <GS> notation and prints the reading."""
    done = _agent("decode", "]d2010950600013435210LOT<GS>21SN9")
    assert done.returncode == 0, done.stderr
    reading = json.loads(done.stdout)
    assert reading["kind"] == "instrument" and reading["fields"]["21"] == "SN9"


def test_decode_exits_2_with_reason_for_a_bad_label() -> None:
    """A rejected label prints its reason and exits 2."""
    done = _agent("decode", "0109506000134353")
    assert done.returncode == 2
    assert json.loads(done.stdout)["reason"] == "gs1_check_failed"


def test_decode_reads_site_rules_from_a_file(tmp_path: Path) -> None:
    """--rules loads a TOML of decode rules, including the \\x1d notation for GS."""
    rules = tmp_path / "rules.toml"
    rules.write_text('gs_substitute = "~"\n[prefixes]\nasset = ["EQ-"]\n')
    done = _agent("decode", "--rules", str(rules), "EQ-17")
    assert json.loads(done.stdout)["kind"] == "asset"
    gs = _agent("decode", "--rules", str(rules), "010950600013435210L~21S\\x1d")
    assert gs.returncode == 0, gs.stdout


def test_check_config_names_the_bad_key(tmp_path: Path) -> None:
    """An invalid config exits 2 and names the key that is wrong."""
    config = tmp_path / "agent.toml"
    config.write_text('agent_id = "pi/1"\n[mqtt]\nport = 70000\nbogus = 1\n')
    done = _agent("check-config", "--config", str(config))
    assert done.returncode == 2
    assert "agent_id" in done.stderr and "mqtt.port" in done.stderr and "mqtt.bogus" in done.stderr


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    """SCANTRAIL_AGENT__MQTT__PORT overrides the TOML value."""
    config = tmp_path / "agent.toml"
    config.write_text('agent_id = "pi-1"\n[mqtt]\nport = 1883\n')
    done = subprocess.run(
        [sys.executable, "-m", "agent", "check-config", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"SCANTRAIL_AGENT__MQTT__PORT": "1884", "PATH": "/usr/bin:/bin"},
    )
    assert json.loads(done.stdout)["mqtt"]["port"] == 1884


def test_list_devices_shows_by_id_links_and_flags_scanners(tmp_path: Path) -> None:
    """Serial by-id links and keyboard event links are listed with their targets; mice are
    left out and scanner-looking names are flagged."""
    serial = tmp_path / "serial" / "by-id"
    inputs = tmp_path / "input" / "by-id"
    serial.mkdir(parents=True)
    inputs.mkdir(parents=True)
    (tmp_path / "ttyACM0").touch()
    (tmp_path / "event3").touch()
    (serial / "usb-Honeywell_Imaging_1900-if00").symlink_to(tmp_path / "ttyACM0")
    (inputs / "usb-Zebra_DS2208-event-kbd").symlink_to(tmp_path / "event3")
    (inputs / "usb-Logitech_Mouse-event-mouse").symlink_to(tmp_path / "event3")
    done = _agent("list-devices", "--json", "--dev", str(tmp_path))
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert [(d["type"], Path(d["path"]).name, d["likely_scanner"]) for d in found] == [
        ("serial", "usb-Honeywell_Imaging_1900-if00", True),
        ("evdev", "usb-Zebra_DS2208-event-kbd", True),
    ]
    assert found[0]["target"] == str(tmp_path / "ttyACM0")
    text = _agent("list-devices", "--dev", str(tmp_path / "none")).stdout
    assert "no serial or keyboard devices" in text
