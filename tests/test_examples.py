"""The example configs in deploy/examples are valid, so the README's commands work."""

from __future__ import annotations

from pathlib import Path

import agent.settings
import hub.settings

EXAMPLES = Path(__file__).resolve().parent.parent / "deploy" / "examples"


def test_agent_example_loads() -> None:
    """deploy/examples/agent.toml passes the agent's strict config validation."""
    settings = agent.settings.load_settings(EXAMPLES / "agent.toml")
    assert settings.agent_id == "pi-steril-01" and settings.station.mode == "sterilizer"


def test_hub_example_loads() -> None:
    """deploy/examples/hub.toml passes the hub's strict config validation."""
    settings = hub.settings.load_settings(EXAMPLES / "hub.toml")
    assert settings.database_url.startswith("sqlite:///")


def test_the_broker_example_is_what_ca_init_writes() -> None:
    """deploy/mosquitto/mosquitto.conf and acl.example are the generator's output for
    /etc/mosquitto/scantrail as deploy/install-hub.sh sets it up (state in
    /var/lib/scantrail-mosquitto, the unit's user), so the files people read are the ones
    the hub writes."""
    from hub.provision.broker import acl_text, conf_text

    folder = EXAMPLES.parent / "mosquitto"
    state = Path("/var/lib/scantrail-mosquitto")
    made = conf_text(Path("/etc/mosquitto/scantrail"), state, 8883, 1883, None)
    assert (folder / "mosquitto.conf").read_text() == made
    acl = acl_text("scantrail", ["pi-steril-01", "pi-tray-01"])
    assert (folder / "acl.example").read_text() == acl
