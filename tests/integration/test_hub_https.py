"""Issue 29, item 5: the hub serves HTTPS itself with a certificate of the site's CA, a
provisioned station reaches it over TLS only, and secrets stay out of the broker's folder."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from agent.errors import ConfigError
from agent.settings import load_settings as load_agent_settings
from hub.__main__ import main as hub_main
from tests.harness.processes import AgentProcess, HubProcess
from tests.harness.waiting import wait_for
from tests.integration.test_broker_security import Site

pytestmark = pytest.mark.integration


def test_a_provisioned_station_pulls_the_snapshot_from_the_hub_over_https_only(
    tmp_path: Path, sqlite_url: str
) -> None:
    """`ca init` issues the hub's certificate; with [api] tls_cert/tls_key the hub answers
    HTTPS and plain HTTP gets nothing; its sign-in cookie is Secure; `agents provision`
    writes the https URL and the CA into the bundle, and the station pulls its snapshot
    through them."""
    site = Site(tmp_path)
    site.init()
    hub = site.hub(tmp_path / "hub", sqlite_url, https=True)
    station: AgentProcess | None = None
    try:
        hub.start()
        assert hub.base_url.startswith("https://")
        with pytest.raises(httpx.HTTPError):  # plain HTTP on the TLS port: no answer
            httpx.get(hub.base_url.replace("https://", "http://") + "/healthz", timeout=5)
        page = httpx.get(f"{hub.base_url}/login", verify=hub.verify, timeout=10)
        cookie = page.headers["set-cookie"]
        assert page.status_code == 200 and "Secure" in cookie and "HttpOnly" in cookie, cookie

        args = ["agents", "provision", "pi-s", "--config", str(hub.config), *site.folders]
        args += ["--broker-host", "127.0.0.1", "--tls-port", str(site.tls_port)]
        args += ["--station", "Bench S", "--mode", "tray_assembly"]
        args += ["--install-dir", str(site.bundle("pi-s"))]
        assert hub_main(args) == 0
        bundle = site.bundle("pi-s")
        settings = load_agent_settings(bundle / "agent.toml")
        assert settings.reference.url == f"https://127.0.0.1:{hub.api_port}"
        assert settings.reference.tls_ca == bundle / "ca.crt"

        reference = {"url": settings.reference.url, "tls_ca": str(bundle / "ca.crt")}
        station = site.agent(tmp_path / "station", "pi-s", bundle, "pi-s", reference)
        station.start()

        def pulled() -> None:
            found = station.status()["reference"] if station else {}
            assert found["etag"] and found["last_error"] is None, found

        wait_for(pulled, timeout=60)
    finally:
        if station is not None:
            station.stop()
        hub.stop()
        site.stop()


def test_the_broker_folder_holds_no_key_but_its_own_and_no_agent_secret(
    tmp_path: Path, sqlite_url: str
) -> None:
    """After `ca init` and a provisioned agent, the broker's folder holds only what the
    broker reads (its certificate and key, the CA's certificate, the password file, the
    ACL, its config); the CA's key, the hub's secrets and the bundle are in the site folder,
    which only its owner may open; `agents revoke` deletes the bundle, and one written to
    a path the admin gave (handed out, nothing kept) too."""
    site = Site(tmp_path)
    site.init()
    hub = HubProcess(tmp_path / "hub", sqlite_url, site.tls_port)  # only for provisioning
    try:
        base = ["--config", str(hub.config), *site.folders, "--broker-host", "127.0.0.1"]
        station = ["--station", "Bench", "--mode", "tray_assembly"]
        assert hub_main(["agents", "provision", "pi-k", *base, *station]) == 0
        handed = tmp_path / "usb-stick" / "pi-h"
        assert hub_main(["agents", "provision", "pi-h", *base, *station, "--out", str(handed)]) == 0
        broker_files = sorted(p.name for p in site.dir.iterdir() if p.is_file())
        assert broker_files == [
            "acl",
            "broker.crt",
            "broker.key",
            "ca.crt",
            "mosquitto.conf",
            "passwd",
            "stderr.log",  # this test's own capture of the broker's log
        ], broker_files
        assert not (site.dir / "agents").exists()
        assert (site.site_dir.stat().st_mode & 0o077) == 0
        for secret in ("ca.key", "hub.key", "hub-mqtt-password"):
            assert (site.site_dir / secret).exists(), secret
        assert (site.bundle("pi-k") / "credentials").is_dir()
        assert (handed / "credentials").is_dir() and not site.bundle("pi-h").exists()

        for name in ("pi-k", "pi-h"):
            assert hub_main(["agents", "revoke", name, *base[:2], *site.folders]) == 0
        assert not site.bundle("pi-k").exists() and not handed.exists()
    finally:
        site.stop()


def test_a_station_refuses_a_plain_http_hub_url_off_its_machine_unless_told(
    tmp_path: Path,
) -> None:
    """A plain http:// hub URL to another host is a configuration error naming the risk;
    https, loopback, or allow_insecure_http = true are accepted."""

    def load(reference: str) -> object:
        config = tmp_path / "agent.toml"
        config.write_text(f'agent_id = "pi-1"\n[reference]\n{reference}\n')
        return load_agent_settings(config)

    with pytest.raises(ConfigError, match="plain http: the station's token would cross"):
        load('url = "http://hub.example:8080"')
    for accepted in (
        'url = "https://hub.example:8443"',
        'url = "http://127.0.0.1:8080"',
        'url = "http://localhost:8080"',
        'url = "http://hub.example:8080"\nallow_insecure_http = true',
    ):
        load(accepted)


def test_provisioning_refuses_a_plain_http_hub_url_unless_told(
    tmp_path: Path, sqlite_url: str
) -> None:
    """`agents provision --hub-url http://hub.example` makes no login and no bundle; with
    --allow-insecure-http the bundle says so, and its station loads it."""
    site = Site(tmp_path)
    site.init()
    hub = HubProcess(tmp_path / "hub", sqlite_url, site.tls_port)  # only for provisioning
    try:
        args = ["agents", "provision", "pi-p", "--config", str(hub.config), *site.folders]
        args += ["--broker-host", "127.0.0.1", "--station", "Bench", "--mode", "tray_assembly"]
        args += ["--hub-url", "http://hub.example:8080"]
        assert hub_main(args) != 0
        assert not site.bundle("pi-p").exists()
        assert "pi-p" not in (site.dir / "passwd").read_text()
        assert hub_main([*args, "--allow-insecure-http"]) == 0
        settings = load_agent_settings(site.bundle("pi-p") / "agent.toml")
        assert settings.reference.allow_insecure_http
    finally:
        site.stop()
