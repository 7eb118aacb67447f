"""Every screen read as a person reads it (issue 26), in a real Chromium at a desk's width
and a tray bench tablet's: the visible text holds no key prefix, no UUID and no ISO
timestamp; every code on it is a link; nothing is fetched from another host; axe-core
finds no serious or critical accessibility violation. Each screen's screenshot is kept in
var/test-artifacts/screens/ for a person to look at."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Route

from tests.browser.conftest import ARTIFACTS, Site, sign_in

pytestmark = pytest.mark.integration

AXE = Path(__file__).resolve().parents[2] / "var" / "npm" / "axe-core" / "axe.min.js"
WIDTHS = (1366, 768)

# Each screen, and a sample of each kind of record a screen links to.
SCREENS = {
    "fleet": "/",
    "station": "/stations/pi-porter",
    "alerts": "/alerts",
    "search": "/search?q=scalpel",
    "loads": "/loads",
    "load": "/loads/STE-01.77",
    "load-recorded": "/loads/STE-01.78",
    "trays": "/trays",
    "cases": "/cases",
    "assets": "/assets",
    "report": "/reports",
    "dead-letters": "/dead-letters",
    "labels": "/labels",
    "history-instrument": "/history/INS-1041",
    "history-tray": "/history/TRY-0002",
    "history-case": "/history/CASE-101",
    "history-asset": "/history/AST-001",
    "history-load": "/history/STE-01.77",
    "not-found": "/history/INS-9999",
    "api-docs": "/api/v1/docs",
}
KEY_PREFIX = re.compile(r"\b(?:site|raw|hibc|hibc-secondary|gs1):\S")
UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
ISO_TIME = re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2})?")
CODE = re.compile(r"\b(?:INS|TRY|AST|CASE|STE)-[0-9A-Z]+(?:\.\d+)?\b")


@pytest.fixture(scope="module")
def signed_in(browser: Browser, site: Site) -> Iterator[Page]:
    """One signed-in context for the sweep; every request it makes is watched."""
    assert AXE.exists(), f"{AXE} is missing: `make test` fetches axe-core from the npm registry"
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(30_000)
    origin = urlsplit(site.hub.base_url).netloc
    elsewhere: list[str] = []

    def watch(route: Route) -> None:
        if urlsplit(route.request.url).netloc not in (origin, ""):
            elsewhere.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    page.route("**/*", watch)
    refused: list[str] = []  # what the Content-Security-Policy blocked (hub/web/headers.py)
    page.on(
        "console",
        lambda message: (
            refused.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    sign_in(page, site, site.person("olga", "operator"))
    page.elsewhere = elsewhere  # type: ignore[attr-defined]
    page.refused = refused  # type: ignore[attr-defined]
    yield page
    context.close()


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", list(SCREENS))
def test_a_screen_speaks_the_departments_language(
    signed_in: Page, site: Site, name: str, width: int
) -> None:
    """The screen's text has names, local times and words, every code on it links to its
    record, it loads nothing from another host, its Content-Security-Policy refuses
    nothing on it, and axe-core finds nothing serious."""
    page = signed_in
    page.set_viewport_size({"width": width, "height": 900})
    answer = page.goto(site.hub.base_url + SCREENS[name])
    assert answer is not None
    assert answer.status == (404 if name == "not-found" else 200), name
    page.wait_for_load_state("load")
    shots = ARTIFACTS / "screens"
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / f"{name}-{width}.png"), full_page=True)

    if name == "api-docs":
        page.get_by_text("scantrail hub").first.wait_for()
    else:
        text = page.inner_text("main")
        assert not KEY_PREFIX.findall(text), (name, KEY_PREFIX.findall(text))
        assert not UUID.findall(text), (name, UUID.findall(text))
        assert not ISO_TIME.findall(text), (name, ISO_TIME.findall(text))
        # The screen's record part: the filters above it name sterilizers in a <select>,
        # and an error page's advice names example codes.
        part = page.locator("main section[data-part]")
        if part.count():
            # Raw scans (<code>) are what the scanner read, shown as read.
            shown = part.evaluate(
                "p => { const raw = [...p.querySelectorAll('code')];"
                " raw.forEach(e => e.hidden = true); const t = p.innerText;"
                " raw.forEach(e => e.hidden = false); return t; }"
            )
            linked = set(part.locator("a").all_inner_texts())
            unlinked = sorted({c for c in CODE.findall(shown) if c not in linked})
            assert not unlinked, (name, unlinked)
    assert page.elsewhere == [], page.elsewhere  # type: ignore[attr-defined]
    assert page.refused == [], page.refused  # type: ignore[attr-defined]
    if name == "api-docs":
        # Swagger UI, vendored as its authors ship it, for developers: its operation rows
        # nest buttons (axe's nested-interactive) and its method badges fail contrast.
        return

    page.evaluate(AXE.read_text())  # evaluated, not a <script>: the policy allows none inline
    found = page.evaluate("async () => (await axe.run(document)).violations")
    serious = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in found
        if v["impact"] in ("serious", "critical")
    ]
    assert not serious, (name, width, serious)
