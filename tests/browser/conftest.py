"""A real headless Chromium (Debian's, at /usr/bin/chromium) driven by Playwright, and a
served hub with a broker and four stations behind it. No test skips when Chromium is missing:
it fails, naming what to install."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from chaos.sterilizer import FORMAT, Sterilizer, cycle
from deploy.demo_hospital import reference, tray_contents
from tests.harness.mosquitto import Mosquitto
from tests.harness.processes import AgentProcess, HubProcess
from tests.harness.waiting import wait_for

CHROMIUM = os.environ.get("SCANTRAIL_CHROMIUM", "/usr/bin/chromium")
# Run as root it needs --no-sandbox; the rest keep it off the network.
FLAGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Generous: a busy machine may take seconds to project a scan or pass an event on.
expect.set_options(timeout=30_000)
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"
PASSWORD = "correct horse battery"
TRAY_2_BUT_ONE = tuple(tray_contents(2)[:-1])  # closed short of its last instrument


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Module-scoped on purpose: while Playwright's sync API runs, its event loop is the
    main thread's running loop, and the in-process API tests' asyncio.run would fail."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install chromium"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


class Site:
    """A served hub with a small hospital's reference data, and stations that played a
    shift into it: a tray closed short, a load whose BI failed, an instrument of that load
    used in a case, and a porter's move."""

    def __init__(self, hub: HubProcess, agents: dict[str, AgentProcess], broker_port: int) -> None:
        self.hub = hub
        self.agents = agents
        self.broker_port = broker_port

    def person(self, username: str, role: str) -> str:
        made = subprocess.run(
            [
                *(sys.executable, "-m", "hub", "users", "--config", str(self.hub.config)),
                *("create", "--username", username, "--role", role, "--password-stdin"),
            ],
            input=PASSWORD + "\n",
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert made.returncode == 0 or "exists already" in made.stderr, made.stderr
        return username


# (station, its mode, what it scans) in the order the shift happens.
SHIFT = (
    ("pi-tray", "tray_assembly", ("USR-0101", "TRY-0002", *TRAY_2_BUT_ONE, "CMD-COMPLETE")),
    ("pi-ste", "sterilizer", ("USR-0102", "STE-01", "STE-01.77", "TRY-0002", "INS-1041")),
    ("pi-ste", "sterilizer", ("CMD-CYCLE-PASS", "STE-01.77", "CMD-BI-FAIL")),
    ("pi-or", "point_of_use", ("USR-0103", "CASE-101", "INS-1041", "CMD-DONE")),
    ("pi-porter", "asset_move", ("USR-0104", "AST-001", "LOC-OR-1")),
)
# What each station calls itself, as a department names its benches and rooms.
STATION_NAMES = {
    "pi-tray": "Tray bench 1",
    "pi-ste": "Sterilizer bay",
    "pi-or": "OR 1 scanner",
    "pi-porter": "Porter desk",
}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    work = tmp_path_factory.mktemp("site")
    broker = Mosquitto(work / "mosquitto")
    broker.workdir.mkdir()
    broker.start()
    hub = HubProcess(work / "hub", f"sqlite:///{work / 'hub.db'}", broker.port)
    modes = {agent_id: mode for agent_id, mode, _ in SHIFT}
    sterilizer = Sterilizer(work / "usb-Sterilizer_bay-if00-port0")
    port = {"sterilizer": {"code": "STE-01", "path": str(sterilizer.link), **FORMAT}}
    agents = {
        agent_id: AgentProcess(
            work / agent_id,
            agent_id,
            broker.port,
            mode=mode,
            station_name=STATION_NAMES[agent_id],
            extra=port if agent_id == "pi-ste" else None,
        )
        for agent_id, mode in modes.items()
    }
    hub.start()
    try:
        for kind, rows in reference(datetime.now(UTC)).items():
            path = work / f"{kind}.json"
            path.write_text(json.dumps(rows))
            made = hub.cli("import", kind, str(path))
            assert made.returncode == 0, made.stderr
        for agent in agents.values():
            agent.start()
        for agent_id, _, scans in SHIFT:
            for text in scans:
                assert agents[agent_id].scan(text)["kept"], (agent_id, text)
            # Stations reach the hub independently: the OR's use must not overtake the
            # failed BI, or the BI's recall catches it instead of an unsafe_use alert.
            wait_for(lambda agent=agents[agent_id]: _confirmed(agent), timeout=60)

        # A load whose sterilizer's record dips below the set point: the load page shows
        # the record, its chart and why it failed.
        ste = agents["pi-ste"]
        for text in ("STE-01", f"STE-01.{RECORDED}", "CMD-TYPE-PREVAC", "INS-1110"):
            assert ste.scan(text)["kept"], text
        sterilizer.play(cycle(RECORDED, "dip"), 60.0)
        wait_for(lambda: _judged(hub), timeout=120)
        assert ste.scan("CMD-CYCLE-FAIL")["kept"]

        def played() -> None:
            loads = hub.records("cycles")
            assert any(load["bi_result"] == "fail" for load in loads), loads
            assert hub.records("usage") and hub.records("assignments")
            assert hub.alerts("unsafe_use") and hub.alerts("tray_short")

        wait_for(played, timeout=120)
        yield Site(hub, agents, broker.port)
    finally:
        for agent in agents.values():
            agent.stop()
        hub.stop()
        broker.kill()
        sterilizer.close()


RECORDED = 78  # the load whose sterilizer's record is captured


def _judged(hub: HubProcess) -> None:
    physical = hub.get(f"/api/v1/loads/STE-01.{RECORDED}")["physical"]
    assert physical and physical["result"] == "fail", physical


def _confirmed(agent: AgentProcess) -> None:
    assert agent.status()["backlog"] == 0, agent.status()


def sign_in(page: Page, site: Site, username: str) -> None:
    page.goto(f"{site.hub.base_url}/")
    assert page.url.endswith("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{site.hub.base_url}/")


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser context per test; its screenshot is kept in var/test-artifacts."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(30_000)
    try:
        yield opened
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^\w.-]", "_", request.node.name)
        opened.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        context.close()
