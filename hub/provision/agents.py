"""One agent's identity: provision makes it, revoke ends it.

``provision`` gives the agent a broker password (and its ACL entries), an API token with
the role ``agent`` for the reference snapshot, and writes a bundle to copy to the Pi:
``agent.toml``, the site CA, and its two secrets as systemd credentials
(docs/provisioning.md). The secrets are in the bundle only: the hub keeps hashes.
"""

from __future__ import annotations

import secrets
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from hub.access.roles import Role
from hub.errors import ConfigError
from hub.provision import broker
from hub.store import tokens
from protocol.messages import is_agent_id
from protocol.vocabulary import Mode

MQTT_CREDENTIAL = "scantrail-mqtt-password"  # the agent's MqttSettings.password_credential
TOKEN_CREDENTIAL = "scantrail-hub-token"  # its ReferenceSettings.token_credential


@dataclass(frozen=True)
class Where:
    """Where the Pi finds the broker and the hub, and where the bundle is installed."""

    broker_host: str
    broker_port: int = 8883
    hub_url: str | None = None
    install_dir: Path = Path("/etc/scantrail")


def provision(
    engine: Engine,
    directory: Path,
    prefix: str,
    name: str,
    station: str,
    mode: Mode,
    where: Where,
) -> Path:
    """The agent's bundle directory; refuses a name that is not an agent id, the hub's
    own login, or one already provisioned."""
    if not is_agent_id(name) or name == broker.HUB_USER:
        raise ConfigError(f"{name!r} cannot be an agent id (letters, digits, - and _)")
    if name in broker.logins(directory):
        raise ConfigError(f"agent {name} is provisioned already; revoke it first")
    password = secrets.token_urlsafe(24)
    with engine.begin() as conn:
        _, token = tokens.create(conn, name, Role.AGENT, datetime.now(UTC), None)
    broker.set_password(directory, name, password)
    broker.write_acl(directory, prefix)
    broker.reload(directory)
    bundle = directory / "agents" / name
    credentials = bundle / "credentials"
    credentials.mkdir(parents=True, exist_ok=True, mode=0o700)
    for file, value in ((MQTT_CREDENTIAL, password), (TOKEN_CREDENTIAL, token)):
        path = credentials / file
        path.touch(mode=0o600, exist_ok=True)
        path.write_text(value + "\n")
    shutil.copy(directory / "ca.crt", bundle / "ca.crt")
    (bundle / "agent.toml").write_text(_agent_toml(name, station, mode, where))
    return bundle


def revoke(engine: Engine, directory: Path, prefix: str, name: str) -> None:
    """Remove the agent's broker login and ACL entries, reload the broker, and revoke its
    API tokens. Raises ConfigError when it was never provisioned."""
    if name not in broker.logins(directory) or name == broker.HUB_USER:
        raise ConfigError(f"no agent {name} is provisioned")
    broker.remove(directory, name)
    broker.write_acl(directory, prefix)
    broker.reload(directory)
    with engine.begin() as conn:
        tokens.revoke_held(conn, name, Role.AGENT, datetime.now(UTC))


def _agent_toml(name: str, station: str, mode: Mode, where: Where) -> str:
    reference = (
        f'url = "{where.hub_url}"\ntoken_credential = "{TOKEN_CREDENTIAL}"\n'
        if where.hub_url
        else '# url = "http://hub:8080"  # the hub\'s API, for the reference snapshot\n'
    )
    return (
        f"# Made by `scantrail-hub agents provision {name}`. Install it, ca.crt and the\n"
        "# credentials as docs/provisioning.md says; the secrets are systemd credentials.\n"
        f'agent_id = "{name}"\n'
        'data_dir = "/var/lib/scantrail-agent"\n\n'
        "[mqtt]\n"
        f'host = "{where.broker_host}"\n'
        f"port = {where.broker_port}\n"
        f'username = "{name}"\n'
        f'password_credential = "{MQTT_CREDENTIAL}"\n'
        f'tls_ca = "{where.install_dir / "ca.crt"}"\n\n'
        "[station]\n"
        f"name = {_quoted(station)}\n"
        f'mode = "{mode.value}"\n\n'
        "[reference]\n" + reference
    )


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
