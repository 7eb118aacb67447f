"""The dashboard in headless Chromium (issue 14): sign in, the fleet going offline live,
acknowledging an alert, an instrument's timeline, a failed load's recall trace, and a
viewer who cannot acknowledge."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import Site, sign_in
from tests.harness.processes import AgentProcess

pytestmark = pytest.mark.integration


def test_a_person_signs_in_and_sees_the_fleet(page: Page, site: Site) -> None:
    """The dashboard sends a browser to sign in; a username and password open the fleet,
    with the station's agent in it."""
    sign_in(page, site, site.person("olga", "operator"))
    expect(page.get_by_role("heading", name="Fleet")).to_be_visible()
    expect(page.locator('tr[data-agent="pi-ste"]')).to_contain_text("online")
    expect(page.locator('tr[data-agent="pi-ste"]')).to_contain_text("Sterilizer bay")


def test_a_killed_agent_shows_offline_without_a_reload(page: Page, site: Site) -> None:
    """kill -9 of an agent's process: the broker publishes its will and the open fleet
    page shows it offline from the live stream, with no reload."""
    work = site.hub.workdir.parent / "doomed"
    doomed = AgentProcess(work, "pi-doomed", site.broker_port, keepalive_s=5)
    doomed.start()
    try:
        sign_in(page, site, site.person("olga", "operator"))
        row = page.locator('tr[data-agent="pi-doomed"]')
        expect(row).to_contain_text("online", timeout=30_000)
        page.evaluate("window.notReloaded = true")
        doomed.kill()
        expect(row.locator("td").first).to_have_text("offline", timeout=30_000)
        assert page.evaluate("window.notReloaded === true")
    finally:
        doomed.stop()


def test_an_operator_acknowledges_an_alert_with_a_note(page: Page, site: Site) -> None:
    """An open alert's note and Acknowledge button record who acknowledged it, on the
    page, without a reload."""
    sign_in(page, site, site.person("olga", "operator"))
    page.goto(f"{site.hub.base_url}/alerts")
    form = page.locator("form[data-ack]").first
    alert_id = form.evaluate("f => f.closest('tr').dataset.alert")
    form.get_by_label("Note").fill("Checked with the sterilizer log")
    form.get_by_role("button", name="Acknowledge").click()
    row = page.locator(f'tr[data-alert="{alert_id}"]')
    expect(row).to_contain_text("acknowledged by olga")
    expect(row).to_contain_text("Checked with the sterilizer log")


def test_a_viewer_cannot_acknowledge(page: Page, site: Site) -> None:
    """A viewer's alerts page has no Acknowledge button, and a request made from it anyway
    is refused with 403."""
    sign_in(page, site, site.person("vera", "viewer"))
    page.goto(f"{site.hub.base_url}/alerts")
    expect(page.locator("tr[data-alert]").first).to_be_visible()
    expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)
    alert_id = page.locator("tr[data-alert]").first.get_attribute("data-alert")
    status = page.evaluate(
        """async (id) => (await fetch(`/api/v1/alerts/${id}/ack`, {method: 'POST',
            headers: {'Content-Type': 'application/json', 'X-CSRF-Token':
              document.querySelector('meta[name=csrf]').content},
            body: JSON.stringify({note: 'not mine to do'})})).status""",
        alert_id,
    )
    assert status == 403


def test_search_finds_an_instrument_and_shows_its_timeline(page: Page, site: Site) -> None:
    """Searching INS-1041 finds it by code beside its name; its page tells its story: the
    load it went through and its failed BI, its use in a case, and the alert about it."""
    sign_in(page, site, site.person("olga", "operator"))
    page.goto(f"{site.hub.base_url}/search")
    page.get_by_label("Instrument, tray or asset: code or name").fill("INS-1041")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("table")).to_contain_text("INS-1041 Scalpel handles no. 41")
    page.get_by_role("link", name="INS-1041", exact=True).click()
    expect(page.get_by_role("heading", name="History of INS-1041")).to_be_visible()
    story = page.locator("ol.timeline")
    expect(story).to_contain_text("went into load STE-01.77")
    expect(story).to_contain_text("BI failed")
    expect(story).to_contain_text("used in case CASE-101")
    expect(story).to_contain_text("at Sterilizer bay")
    expect(story).to_contain_text("Alert: Instrument used from an unsafe load")


def test_a_failed_load_shows_its_recall_trace(page: Page, site: Site) -> None:
    """The failed BI's load page shows the recall trace: the instrument and the tray, with
    where each is now."""
    sign_in(page, site, site.person("olga", "operator"))
    page.goto(f"{site.hub.base_url}/loads/STE-01.77")
    trace = page.locator("section.recall")
    expect(
        trace.get_by_role("heading", name="Recall trace: biological indicator failed")
    ).to_be_visible()
    expect(trace).to_contain_text("INS-1041 Scalpel handles no. 41")
    expect(trace).to_contain_text("TRY-0002 Minor procedures")
    expect(trace).to_contain_text("CASE-101")


def test_an_admin_disables_a_person_on_the_people_page_and_their_browser_is_signed_out(
    browser: Browser, page: Page, site: Site
) -> None:
    """On People an admin disables a person, who is signed out at once (their next page
    is the sign-in form); their session leaves the list, and enabling lets them in."""
    other = browser.new_context()
    theirs = other.new_page()
    try:
        sign_in(theirs, site, site.person("pia", "tech"))
        sign_in(page, site, site.person("adam", "admin"))
        page.get_by_role("link", name="People").click()
        row = page.locator('tr[data-user="pia"]')
        expect(row).to_contain_text("can sign in")
        expect(page.locator("tr[data-session]").filter(has_text="pia")).to_have_count(1)
        row.get_by_role("button", name="Disable pia and sign them out").click()
        expect(row).to_contain_text("disabled since")
        expect(page.locator("tr[data-session]").filter(has_text="pia")).to_have_count(0)
        theirs.goto(f"{site.hub.base_url}/alerts")
        assert theirs.url.endswith("/login")
        row.get_by_role("button", name="Let pia sign in again").click()
        expect(row).to_contain_text("can sign in")
        sign_in(theirs, site, "pia")
    finally:
        other.close()


def test_the_trays_board_says_where_a_tray_is_by_the_station_s_name(page: Page, site: Site) -> None:
    """A tray last scanned at a bench that names no room is "where" that bench is, by the
    name the station reports, never its agent id."""
    sign_in(page, site, site.person("tess", "viewer"))
    page.goto(f"{site.hub.base_url}/trays")
    row = page.locator('tr[data-tray="site:TRY-0002"]')
    expect(row).to_contain_text("Tray bench 1")
    expect(row).not_to_contain_text("pi-tray")
