"""One agent's identity: provision makes it, revoke ends it.

``provision`` gives the agent a broker password (and its ACL entries), an API token with
the role ``agent`` for the reference snapshot, and writes a bundle to copy to the Pi:
``agent.toml``, the site CA, and its two secrets as systemd credentials
(docs/provisioning.md). The secrets are in the bundle only: the hub and the broker keep
hashes. The bundle goes to the path the admin gives (handed out once: nothing kept), or
to the root-only site folder; ``revoke`` deletes it either way.
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
from hub.provision.site import Layout
from hub.store import tokens
from protocol import hub_url
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
    allow_insecure_http: bool = False  # a plain http:// hub_url off this machine


def provision(
    engine: Engine,
    layout: Layout,
    prefix: str,
    name: str,
    station: str,
    mode: Mode,
    where: Where,
    out: Path | None = None,
) -> Path:
    """The agent's bundle directory: ``out`` if given (it must not exist yet), else the
    site folder's ``bundles/<name>``. Refuses a name that is not an agent id, the hub's
    own login, one already provisioned, and a hub URL that would carry its token in
    clear."""
    if not is_agent_id(name) or name == broker.HUB_USER:
        raise ConfigError(f"{name!r} cannot be an agent id (letters, digits, - and _)")
    if name in broker.logins(layout.broker_dir):
        raise ConfigError(f"agent {name} is provisioned already; revoke it first")
    if where.hub_url and (why := hub_url.problem(where.hub_url, where.allow_insecure_http)):
        raise ConfigError(why)
    bundle = out or _kept(layout, name)
    if bundle.exists():
        raise ConfigError(f"{bundle} exists: give a new path for the bundle")
    password = secrets.token_urlsafe(24)
    with engine.begin() as conn:
        _, token = tokens.create(conn, name, Role.AGENT, datetime.now(UTC), None)
    broker.set_password(layout.broker_dir, name, password)
    broker.write_acl(layout.broker_dir, prefix)
    broker.reload(layout.broker_dir)
    credentials = bundle / "credentials"
    bundle.mkdir(parents=True, mode=0o700)
    credentials.mkdir(mode=0o700)
    for file, value in ((MQTT_CREDENTIAL, password), (TOKEN_CREDENTIAL, token)):
        path = credentials / file
        path.touch(mode=0o600)
        path.write_text(value + "\n")
    shutil.copy(layout.site_dir / "ca.crt", bundle / "ca.crt")
    (bundle / "agent.toml").write_text(_agent_toml(name, station, mode, where))
    if out is not None:  # handed out: the site folder only remembers where, for revoke
        _handed_out(layout, name).parent.mkdir(mode=0o700, exist_ok=True)
        _handed_out(layout, name).write_text(str(out.resolve()) + "\n")
    return bundle


def revoke(engine: Engine, layout: Layout, prefix: str, name: str) -> list[Path]:
    """Remove the agent's broker login and ACL entries, reload the broker, revoke its API
    tokens and delete its bundle; the bundles deleted. Raises ConfigError when it was
    never provisioned."""
    if name not in broker.logins(layout.broker_dir) or name == broker.HUB_USER:
        raise ConfigError(f"no agent {name} is provisioned")
    broker.remove(layout.broker_dir, name)
    broker.write_acl(layout.broker_dir, prefix)
    broker.reload(layout.broker_dir)
    with engine.begin() as conn:
        tokens.revoke_held(conn, name, Role.AGENT, datetime.now(UTC))
    deleted = []
    record = _handed_out(layout, name)
    bundles = [_kept(layout, name)]
    if record.exists():
        bundles.append(Path(record.read_text().strip()))
    for bundle in bundles:
        if (bundle / "credentials" / MQTT_CREDENTIAL).exists():  # an agent's bundle, no more
            shutil.rmtree(bundle)
            deleted.append(bundle)
    record.unlink(missing_ok=True)
    return deleted


def _kept(layout: Layout, name: str) -> Path:
    return layout.site_dir / "bundles" / name


def _handed_out(layout: Layout, name: str) -> Path:
    return layout.site_dir / "bundles" / f"{name}.handed-out"


def _agent_toml(name: str, station: str, mode: Mode, where: Where) -> str:
    reference = (
        (
            f'url = "{where.hub_url}"\ntoken_credential = "{TOKEN_CREDENTIAL}"\n'
            f'tls_ca = "{where.install_dir / "ca.crt"}"\n'
            + ("allow_insecure_http = true\n" if where.allow_insecure_http else "")
        )
        if where.hub_url
        else '# url = "https://hub:8443"  # the hub\'s API, for the reference snapshot\n'
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
