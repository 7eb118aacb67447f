"""The files deploy/ and systemd/ install: the units promise what issue 15 asks of them,
and the udev rules are well formed and do what their comment says."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SYSTEMD = ROOT / "systemd"


def _service(name: str) -> dict[str, list[str]]:
    """A unit's [Service] keys, each with every value it is given (keys may repeat)."""
    values: dict[str, list[str]] = {}
    section = ""
    for line in (SYSTEMD / name).read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
    return values


def test_the_agent_unit_is_watched_hardened_and_reads_its_devices() -> None:
    """Type=notify with a watchdog and Restart=always, its own user in input and dialout,
    its outbox in a StateDirectory, its secrets as credentials, and hardening that still
    allows the input and serial devices."""
    unit = _service("scantrail-agent.service")
    expected = {
        "Type": ["notify"],
        "Restart": ["always"],
        "User": ["scantrail"],
        "SupplementaryGroups": ["input dialout"],
        "StateDirectory": ["scantrail-agent"],
        "ProtectSystem": ["strict"],
        "ProtectHome": ["yes"],
        "PrivateTmp": ["yes"],
        "NoNewPrivileges": ["yes"],
        "DevicePolicy": ["closed"],
    }
    for key, value in expected.items():
        assert unit.get(key) == value, key
    assert unit["WatchdogSec"] and {v.split()[0] for v in unit["DeviceAllow"]} == {
        "char-input",
        "char-ttyACM",
        "char-ttyUSB",
    }
    assert {v.split(":")[0] for v in unit["LoadCredential"]} == {
        "scantrail-mqtt-password",
        "scantrail-hub-token",
    }


def test_the_hub_unit_is_hardened_the_same_way() -> None:
    """The hub runs as its own user with the same protections and its broker password as
    a credential."""
    unit = _service("scantrail-hub.service")
    for key in ("ProtectSystem", "ProtectHome", "PrivateTmp", "NoNewPrivileges", "User"):
        assert unit[key] == _service("scantrail-agent.service")[key], key
    assert unit["LoadCredential"][0].startswith("scantrail-mqtt-password:")


def test_the_udev_rules_name_scanners_and_keep_modemmanager_away() -> None:
    """Every rule is KEY op "value" pairs; serial scanners get dialout, a /dev/scanner-*
    name and ID_MM_DEVICE_IGNORE; keyboard-wedge ones get input and a name."""
    text = (SYSTEMD / "70-scantrail-scanners.rules").read_text().replace("\\\n", " ")
    rules = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    pair = re.compile(r'^\s*[A-Z_]+(\{[^}]+\})?\s*(==|!=|\+=|=|:=)\s*"[^"]*"\s*$')
    for rule in rules:
        for part in rule.split(","):
            assert pair.match(part), part
    serial = next(r for r in rules if 'SUBSYSTEM=="tty"' in r)
    keyboard = next(r for r in rules if 'SUBSYSTEM=="input"' in r)
    assert 'ENV{ID_MM_DEVICE_IGNORE}="1"' in serial and 'GROUP="dialout"' in serial
    assert 'SYMLINK+="scanner-' in serial and 'SYMLINK+="scanner-' in keyboard
    assert 'GROUP="input"' in keyboard
