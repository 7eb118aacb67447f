"""/metrics in Prometheus' format: the writer's counters move as scans are ingested and
set aside, the database's state is read at each scrape, and only admins and the
configured scrape token may read it."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from hub.access.roles import Role
from hub.settings import ApiSettings
from hub.web.app import create_app
from tests.harness.api import Client, make_token
from tests.harness.stations import HubUnderTest, ScriptedStation, message

SCRAPE = "s" * 40


def _scrape(client: Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = client.get("/metrics")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def _app(hub: HubUnderTest) -> tuple[Client, Client]:
    api = ApiSettings(metrics_token=SecretStr(SCRAPE))
    app = create_app(hub.engine, api=api, metrics=hub.metrics)
    return Client(app, make_token(hub.engine, Role.ADMIN)), Client(app, SCRAPE)


def test_the_counters_move_as_scans_are_ingested_and_dead_lettered(hub: HubUnderTest) -> None:
    """Between two scrapes the hub ingests five scans and one malformed message: the
    ingested counter grows by five, malformed_json dead letters by one; the projection lag,
    the open alerts (unregistered codes) and the agent's gauges are read from the database,
    and the requests are timed by route."""
    admin, scraper = _app(hub)
    before = _scrape(scraper)
    assert before[("scantrail_scans_ingested_total", ())] == 0
    ste = ScriptedStation("pi-ste", "sterilizer")
    good = message(ste.scan("STE-A1", "STE-A1.5", "INS-1", "INS-2", "CMD-CYCLE-PASS"))
    bad = good.__class__(good.topic, b"{not json", 2, 1, 0, good.arrived_at)
    hub.worker.process([good, bad])
    during = _scrape(scraper)
    assert during[("scantrail_scans_ingested_total", ())] == 5
    assert during[("scantrail_dead_letters_total", (("reason", "malformed_json"),))] == 1
    assert during[("scantrail_projection_lag_scans", ())] == 5
    assert during[("scantrail_agent_held_above_gap_scans", (("agent", "pi-ste"),))] == 0
    hub.project_all()
    after = _scrape(admin)
    assert after[("scantrail_projection_lag_scans", ())] == 0
    assert after[("scantrail_alerts_open", (("severity", "medium"),))] >= 3  # unregistered
    assert after[("scantrail_database_up", ())] == 1
    timed = ("method", "GET"), ("route", "/metrics"), ("status", "200")
    assert after[("scantrail_http_request_duration_seconds_count", timed)] >= 2


def test_only_admins_and_the_scrape_token_read_metrics(hub: HubUnderTest) -> None:
    """An operator's token is a 403; a wrong token a 401; the scrape token reads /metrics
    and nothing else (it is no API token: 401 on the alerts)."""
    _, scraper = _app(hub)
    app = create_app(hub.engine, api=ApiSettings(metrics_token=SecretStr(SCRAPE)))
    operator = Client.as_role(app, hub.engine, Role.OPERATOR)
    assert operator.get("/metrics").status_code == 403
    assert Client(app, "t" * 40).get("/metrics").status_code == 401
    assert scraper.get("/api/v1/alerts").status_code == 401
