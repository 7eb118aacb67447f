"""A new site: the CA, the servers' certificates, the broker's config and the hub's login.

Two folders, kept apart (docs/provisioning.md):

- the site folder (``/etc/scantrail/site``, root only): the CA's key and certificate, the
  hub's HTTPS certificate and key and its broker password (handed to the hub's unit as
  systemd credentials), and the agents' bundles until they are handed out or revoked;
- the broker folder (``/etc/mosquitto/scantrail``): what the broker reads, no more: the
  CA's certificate, its own certificate and key, the password file, the ACL, its config.
  It writes only to its state folder (persistence, pid file).
"""

from __future__ import annotations

import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from hub.errors import ConfigError
from hub.provision import broker, ca

HUB_MQTT_PASSWORD = "hub-mqtt-password"


@dataclass(frozen=True)
class Layout:
    site_dir: Path
    broker_dir: Path
    # The broker's, where it writes (persistence, pid file); default: <broker_dir>/data.
    # Given, it is the broker's to make (systemd's StateDirectory=).
    state_dir: Path | None = None

    @property
    def broker_state(self) -> Path:
        return self.state_dir or self.broker_dir / "data"


def init(
    layout: Layout,
    broker_hosts: list[str],
    hub_hosts: list[str],
    prefix: str,
    tls_port: int = 8883,
    local_port: int | None = 1883,
    run_as: str | None = None,
    tls_bind: str | None = None,
) -> None:
    """The CA (refused if the site has one), the broker's certificate for ``broker_hosts``
    and the hub's for ``hub_hosts``, the broker's config, and the hub's own broker login,
    whose password is left in the site folder's ``hub-mqtt-password``."""
    if not broker_hosts or not hub_hosts:
        raise ConfigError("a site needs the names the Pis reach its broker and its hub at")
    site, broker_dir = layout.site_dir, layout.broker_dir
    ca.init(site)
    broker_dir.mkdir(parents=True, exist_ok=True)
    if layout.state_dir is None:
        layout.broker_state.mkdir(parents=True, exist_ok=True)
    shutil.copy(site / "ca.crt", broker_dir / "ca.crt")
    ca.issue(site, broker_dir, "broker", broker_hosts)
    ca.issue(site, site, "hub", hub_hosts)
    conf = broker.conf_text(broker_dir, layout.broker_state, tls_port, local_port, run_as, tls_bind)
    (broker_dir / "mosquitto.conf").write_text(conf)
    password = secrets.token_urlsafe(24)
    broker.set_password(broker_dir, broker.HUB_USER, password)
    secret_file = site / HUB_MQTT_PASSWORD
    secret_file.touch(mode=0o600, exist_ok=True)
    secret_file.write_text(password + "\n")
    broker.write_acl(broker_dir, prefix)
