"""A real headless Chromium (Debian's, at /usr/bin/chromium) driven by Playwright, and a
served hub with a broker and an agent behind it. No test skips when Chromium is missing:
it fails, naming what to install."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

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
    """A served hub that a sterilizer station has scanned a failed load into."""

    def __init__(self, hub: HubProcess, agent: AgentProcess, broker_port: int) -> None:
        self.hub = hub
        self.agent = agent
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


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    work = tmp_path_factory.mktemp("site")
    broker = Mosquitto(work / "mosquitto")
    broker.workdir.mkdir()
    broker.start()
    hub = HubProcess(work / "hub", f"sqlite:///{work / 'hub.db'}", broker.port)
    agent = AgentProcess(work / "agent", "pi-ste", broker.port, mode="sterilizer")
    hub.start()
    agent.start()
    try:
        # A load that passed its cycle, then failed its BI: a recall, and alerts to see.
        for text in ("USR-1", "STE-A1", "STE-A1.77", "INS-1", "TRY-7", "CMD-CYCLE-PASS"):
            assert agent.scan(text)["kept"], text
        for text in ("STE-A1.77", "CMD-BI-FAIL"):
            assert agent.scan(text)["kept"], text

        def failed() -> None:
            loads = hub.records("cycles")
            assert loads and loads[0]["bi_result"] == "fail", loads

        wait_for(failed, timeout=60)
        yield Site(hub, agent, broker.port)
    finally:
        agent.stop()
        hub.stop()
        broker.kill()


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
