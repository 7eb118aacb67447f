"""/metrics on a served hub while an agent's scans flow through mosquitto: Prometheus'
scrape token reads it, and the ingest counter and the agent's gauges move."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.harness.mosquitto import Mosquitto
from tests.harness.processes import AgentProcess, HubProcess
from tests.harness.waiting import wait_for

pytestmark = pytest.mark.integration
SCRAPE = "prometheus-scrape-token-" + "x" * 16


def _scrape(hub: HubProcess) -> dict[str, float]:
    response = httpx.get(
        f"{hub.base_url}/metrics", headers={"Authorization": f"Bearer {SCRAPE}"}, timeout=10
    )
    assert response.status_code == 200, response.text
    return {
        sample.name + str(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_a_scrape_during_ingest_sees_the_counters_move(
    tmp_path: Path, broker: Mosquitto, sqlite_url: str
) -> None:
    """Scraped before, while and after an agent sends 200 scans: scans ingested goes from
    0 to 200, the agent appears with nothing held above a gap, and the projection catches
    up to a lag of 0."""
    hub = HubProcess(
        tmp_path / "hub", sqlite_url, broker.port, extra={"api": {"metrics_token": SCRAPE}}
    )
    agent = AgentProcess(tmp_path / "agent", "pi-metrics", broker.port)
    hub.start()
    try:
        assert _scrape(hub)["scantrail_scans_ingested_total[]"] == 0
        agent.start()
        counts = []
        for n in range(200):
            assert agent.scan(f"AST-{n:05d}")["kept"]
            if n % 50 == 49:
                counts.append(_scrape(hub)["scantrail_scans_ingested_total[]"])
        assert counts == sorted(counts)  # a counter never goes back

        def all_in() -> dict[str, float]:
            seen = _scrape(hub)
            assert seen["scantrail_scans_ingested_total[]"] == 200
            assert seen["scantrail_projection_lag_scans[]"] == 0
            assert seen["scantrail_agent_held_above_gap_scans[('agent', 'pi-metrics')]"] == 0
            return seen

        final = wait_for(all_in, timeout=60)
        assert final["scantrail_database_up[]"] == 1
    finally:
        agent.stop()
        hub.stop()
