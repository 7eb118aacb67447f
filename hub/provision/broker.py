"""The broker's security files: ``mosquitto.conf``, ``passwd`` and ``acl``.

Identity is a password per agent (mosquitto_passwd's PBKDF2-SHA512), over TLS, and the
login is the client id (``use_username_as_clientid``), so one device can neither speak for
another nor knock its session off. The ACL names each agent: it may publish only under
its own topics and read only its own ack (protocol.topics.AGENT_PUBLISHES/AGENT_READS).

The password file is the one list of who may connect; the ACL is written from it each
time. Revoking removes both the password and the ACL entries and reloads the broker
(SIGHUP): a Pi that is still connected is refused at its next publish (0x87), and cannot
log in again. Why not client certificates and a CRL: a CRL would have to be re-issued and
re-read for every revocation, and mosquitto reads it only at start; a line removed from
two files and a SIGHUP take effect at once.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from hub.errors import ConfigError
from protocol.topics import AGENT_PUBLISHES, AGENT_READS, Topic, reference_topic, subscription

HUB_USER = "hub"
PID_FILE = "pid_file"
MOSQUITTO_PASSWD = "mosquitto_passwd"


def conf_text(
    directory: Path,
    state_dir: Path,
    tls_port: int,
    local_port: int | None,
    run_as: str | None,
    tls_bind: str | None = None,
) -> str:
    """The broker reads its certificate, key, password file and ACL from ``directory`` and
    writes only to ``state_dir`` (its persistence and pid file)."""
    # use_username_as_clientid is a listener's option: each listener says it (one before
    # any listener would open a default listener on 1883).
    same_login = [
        "# The login is the client id: no device can take over another's session.",
        "use_username_as_clientid true",
    ]
    lines = [
        "# Written by `scantrail-hub ca init` (docs/provisioning.md).",
        "per_listener_settings false",
        "allow_anonymous false",
        f"password_file {directory / 'passwd'}",
        f"acl_file {directory / 'acl'}",
        f"{PID_FILE} {state_dir / 'mosquitto.pid'}",
        "persistence true",
        f"persistence_location {state_dir}/",
        f"listener {tls_port}" + (f" {tls_bind}" if tls_bind else ""),
        f"cafile {directory / 'ca.crt'}",
        f"certfile {directory / 'broker.crt'}",
        f"keyfile {directory / 'broker.key'}",
        "tls_version tlsv1.2",
        *same_login,
    ]
    if local_port is not None:
        lines += [
            "# A plain listener on loopback, for a hub on this host: TLS adds nothing on",
            "# loopback, and it still needs a login (allow_anonymous false covers it too).",
            f"listener {local_port} 127.0.0.1",
            *same_login,
        ]
    if run_as:
        lines.append(f"user {run_as}")
    return "\n".join(lines) + "\n"


def acl_text(prefix: str, agents: list[str]) -> str:
    """The hub reads every agent's messages and writes their acks and the site's reference
    notice; each agent publishes only under its own topics and reads only its own ack and
    the reference notice."""
    lines = ["# Written by scantrail-hub from the password file; do not edit.", f"user {HUB_USER}"]
    lines += [f"topic read {subscription(prefix, kind)}" for kind in AGENT_PUBLISHES]
    lines += [f"topic write {subscription(prefix, kind)}" for kind in AGENT_READS]
    lines += [f"topic write {reference_topic(prefix)}"]
    for agent in sorted(agents):
        lines += ["", f"user {agent}"]
        lines += [f"topic write {Topic(prefix, agent, kind)}" for kind in AGENT_PUBLISHES]
        lines += [f"topic read {Topic(prefix, agent, kind)}" for kind in AGENT_READS]
        lines += [f"topic read {reference_topic(prefix)}"]
    return "\n".join(lines) + "\n"


def logins(directory: Path) -> list[str]:
    path = directory / "passwd"
    if not path.exists():
        return []
    return [line.split(":", 1)[0] for line in path.read_text().splitlines() if ":" in line]


def set_password(directory: Path, user: str, password: str) -> None:
    path = directory / "passwd"
    if not path.exists():
        path.touch(mode=0o600)
    _passwd("-b", str(path), user, password)


def remove(directory: Path, user: str) -> None:
    _passwd("-D", str(directory / "passwd"), user)


def write_acl(directory: Path, prefix: str) -> None:
    agents = [user for user in logins(directory) if user != HUB_USER]
    (directory / "acl").write_text(acl_text(prefix, agents))


def reload(directory: Path) -> bool:
    """SIGHUP the broker so it reads the password and ACL files again; False when it is not
    running (it reads them when it starts). Its pid file is where its config says."""
    try:
        conf = (directory / "mosquitto.conf").read_text()
        named = [line.split(" ", 1)[1] for line in conf.splitlines() if line.startswith(PID_FILE)]
        os.kill(int(Path(named[0].strip()).read_text().strip()), signal.SIGHUP)
    except (FileNotFoundError, IndexError, ValueError, ProcessLookupError):
        return False
    return True


def _passwd(*args: str) -> None:
    try:
        done = subprocess.run([MOSQUITTO_PASSWD, *args], capture_output=True, text=True, timeout=30)
    except FileNotFoundError as exc:
        raise ConfigError("mosquitto_passwd is missing: install mosquitto") from exc
    if done.returncode != 0:
        raise ConfigError(f"mosquitto_passwd failed: {(done.stderr or done.stdout).strip()}")
