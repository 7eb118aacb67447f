"""What a station may call the hub's API at: ``https://``, or plain ``http://`` only where
it never leaves the machine (loopback), since the agent's API token crosses with every
request. Shared by the agent, which refuses any other URL unless its config says
``allow_insecure_http``, and by the hub's provisioning, which writes the agent's bundle."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

LOOPBACK_NAMES = ("localhost",)


def problem(url: str, allow_insecure_http: bool = False) -> str | None:
    """Why a station must not use ``url`` for the hub, or None when it may."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"the hub's URL {url!r} is not an http(s) URL"
    if parts.scheme == "https" or allow_insecure_http or _loopback(parts.hostname):
        return None
    return (
        f"the hub's URL {url!r} is plain http: the station's token would cross the network "
        "in clear; use the hub's https:// URL (the bundle's), or set allow_insecure_http"
    )


def _loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
