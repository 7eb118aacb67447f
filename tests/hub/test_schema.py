"""schemathesis against the hub's own OpenAPI schema: generated requests to every route
get no 500, and every response conforms to what the schema declares."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

from hub.access.roles import Role
from tests.harness.api import ingesting_app, make_token
from tests.harness.stations import HubUnderTest, ScriptedStation

ENDLESS = {"/api/v1/stream"}  # an event stream never ends: tests/integration/test_stream.py
# Operations that refuse some schema-valid requests for a reason no JSON schema can state;
# their other checks run, and their own tests cover the refusal.
BEYOND_SCHEMA = {
    # test_load_fields.py: the releaser must decode as a staff badge under the site's rules
    "POST /api/v1/loads/{label}/fields",
}


def test_generated_requests_get_no_500_and_responses_match_the_schema(database_url: str) -> None:
    """Every operation but the endless stream, up to 20 generated requests each, on a hub
    holding a load, a tray, a case and a move; all schemathesis checks pass."""
    hub = HubUnderTest(database_url)
    ste, orr = ScriptedStation("pi-ste", "sterilizer"), ScriptedStation("pi-or", "point_of_use")
    porter = ScriptedStation("pi-porter", "asset_move")
    hub.deliver(
        ste.scan("STE-A1", "STE-A1.5", "INS-1", "CMD-CYCLE-PASS"),
        orr.scan("CASE-1", "INS-1", "CMD-DONE"),
        porter.scan("AST-1", "LOC-1"),
    )
    app = ingesting_app(hub.engine)
    auth = {"Authorization": f"Bearer {make_token(hub.engine, Role.ADMIN)}"}
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app, headers=auth)
    checked = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path in ENDLESS:
            continue
        name = f"{operation.method.upper()} {operation.path}"
        _check(operation, auth, [positive_data_acceptance] if name in BEYOND_SCHEMA else [])
        checked.append(name)
    assert len(checked) >= 60, checked
    hub.engine.dispose()


def _check(operation: Any, auth: dict[str, str], excluded: list[Any]) -> None:
    """Up to 20 generated requests to one operation, every check but ``excluded``."""

    @settings(
        max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    @given(case=operation.as_strategy())
    def call(case: Any) -> None:
        case.call_and_validate(headers=auth, excluded_checks=excluded)

    call()
