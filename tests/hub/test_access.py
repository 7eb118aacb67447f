"""Access control: every route declares a permission, each role gets exactly what it is
granted, tokens are kept as hashes and stop working when revoked or expired, and every
refusal has the one error body."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.access.roles import GRANTS, Role, allows
from hub.access.validity import expiry
from hub.errors import ConfigError
from hub.store import tokens
from hub.store.db import create_engine, migrate
from hub.store.tables import api_tokens
from hub.web import guard
from hub.web.app import PUBLIC, create_app
from tests.harness.api import Client
from tests.harness.processes import HubProcess

# A valid value for each path parameter the API has; any other gets "x".
PATH_SAMPLES = {"key": "site:AST-1", "label": "site:STE-A1.1"}


@pytest.fixture
def app_and_engine(database_url: str) -> Any:
    engine = create_engine(database_url)
    migrate(engine)
    yield create_app(engine), engine
    engine.dispose()


@pytest.fixture
def admin(app_and_engine: Any) -> Client:
    app, engine = app_and_engine
    return Client.as_role(app, engine, Role.ADMIN)


def _guarded(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) of the app that needs a token, as a caller would request it."""
    found = []
    for route in guard.routes(app):
        if route.path not in PUBLIC:
            path = re.sub(r"{(\w+)}", lambda m: PATH_SAMPLES.get(m[1], "x"), route.path)
            found += [(method, path) for method in sorted(route.methods)]
    return found


def test_every_route_and_role_is_allowed_or_refused_as_its_declared_permission_says(
    app_and_engine: Any,
) -> None:
    """For each guarded route and each role: 403 with the error body when the role lacks
    the route's permission, otherwise an answer that is neither 401 nor 403."""
    app, engine = app_and_engine
    declared = {
        (method, route.path): guard.declared(route)
        for route in guard.routes(app)
        if route.path not in PUBLIC
        for method in route.methods
    }
    clients = {role: Client.as_role(app, engine, role) for role in Role}
    routes = _guarded(app)
    assert len(routes) == len(declared) >= 12
    for (method, path), permission in zip(routes, declared.values(), strict=True):
        assert permission is not None
        for role, client in clients.items():
            status = client.status(method, path)
            if allows(role, permission):
                assert status not in (401, 403), (role, path, status)
            else:
                assert status == 403, (role, path, status)
                error = client.request(method, path).json()["error"]  # refused: a whole body
                assert error["code"] == "forbidden" and permission.value in error["message"]


def test_a_request_without_a_token_or_with_one_that_is_not_ours_gets_401(
    app_and_engine: Any,
) -> None:
    """No token, a made-up one, a wrong scheme and an oversized header all get 401 with the
    error body and a Bearer challenge; /healthz needs no token."""
    app, _ = app_and_engine
    attempts: list[dict[str, str]] = [
        {},
        {"Authorization": "Bearer st_" + "A" * 43},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer " + "x" * 5000},
    ]
    for headers in attempts:
        for method, path in _guarded(app):
            response = Client(app, None).request(method, path, headers=headers)
            assert response.status_code == 401, (headers, path)
            assert response.json()["error"]["code"] == "unauthenticated"
            assert response.headers["www-authenticate"] == "Bearer"
    assert Client(app, None).get("/healthz").status_code == 200


def test_a_revoked_or_expired_token_stops_working_and_only_its_hash_is_stored(
    app_and_engine: Any,
) -> None:
    """A token works until revoked; one whose expiry has passed gets 401; the database
    holds the SHA-256 of each token, never the token."""
    app, engine = app_and_engine
    now = datetime.now(UTC)
    with engine.begin() as conn:
        live_id, live = tokens.create(conn, "Ana", Role.VIEWER, now, now + timedelta(days=1))
        _, old = tokens.create(conn, "Ben", Role.VIEWER, now - timedelta(days=2), now)
    assert Client(app, live).get("/api/v1/alerts").status_code == 200
    assert Client(app, old).get("/api/v1/alerts").status_code == 401
    with engine.begin() as conn:
        assert tokens.revoke(conn, live_id, now)
        assert not tokens.revoke(conn, live_id, now)  # only once
        stored = {row.token_sha256 for row in conn.execute(sa.select(api_tokens))}
    assert Client(app, live).get("/api/v1/alerts").status_code == 401
    assert live not in stored and old not in stored and len(stored) == 2
    assert all(len(token) >= 43 and token.startswith("st_") for token in (live, old))


def test_the_tokens_cli_creates_lists_and_revokes(database_url: str, tmp_path: Path) -> None:
    """`tokens create` prints a token once that the API takes with its role, `list` shows
    it without the token, `revoke --id` ends it, and bad arguments exit 2 with a reason."""
    hub = HubProcess(tmp_path / "hub", database_url, broker_port=1)
    made = hub.cli("tokens", "create", "--role", "tech", "--name", "Bench 2", "--expires", "30d")
    assert made.returncode == 0, made.stderr
    token = made.stdout.split()[-1]
    token_id = re.search(r"token (\d+)", made.stdout)
    assert token_id is not None
    engine = create_engine(database_url)
    app = create_app(engine)
    assert Client(app, token).get("/api/v1/records/cycles").status_code == 200
    assert Client(app, token).get("/api/v1/audit").status_code == 403
    listed = hub.cli("tokens", "list")
    assert "Bench 2" in listed.stdout and "tech" in listed.stdout and token not in listed.stdout
    assert hub.cli("tokens", "revoke", "--id", token_id[1]).returncode == 0
    assert Client(app, token).get("/api/v1/records/cycles").status_code == 401
    refused = hub.cli("tokens", "create", "--role", "tech", "--name", "x", "--expires", "soon")
    assert refused.returncode == 2 and "--expires" in refused.stderr
    assert hub.cli("tokens", "revoke", "--id", "999").returncode == 2
    engine.dispose()


def test_errors_share_one_body(app_and_engine: Any) -> None:
    """An unknown route, a bad parameter, a NUL character and a missing record all answer
    {"error": {"code", "message", "details"}} with a code a program can branch on."""
    app, engine = app_and_engine
    client = Client.as_role(app, engine)
    cases = {
        "/api/v1/nothing-here": (404, "not_found"),
        "/api/v1/alerts?limit=0": (422, "invalid_request"),
        "/api/v1/records/nonsense": (404, "not_found"),
        "/api/v1/assets/site:AST-NONE/where": (404, "not_found"),
        "/api/v1/records/cycles?key=INS-1%00": (422, "invalid_request"),  # PostgreSQL refuses NUL
        "/api/v1/assets/AST%00/where": (422, "invalid_request"),
    }
    for path, (status, code) in cases.items():
        response = client.get(path)
        assert response.status_code == status, path
        error = response.json()["error"]
        assert (
            error["code"] == code
            and error["message"]
            and set(error)
            == {
                "code",
                "message",
                "details",
            }
        )


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=st.text(max_size=700) | st.sampled_from(["' OR 1=1 --", "%00", "../../etc", "9" * 40]))
def test_any_query_or_path_value_gets_an_answer_below_500(admin: Client, value: str) -> None:
    """Oversized, wrong-typed and injection values in every query parameter and path
    segment are answered, with 2xx or 4xx, never 500."""
    client = admin
    for path in ("/api/v1/scans", "/api/v1/alerts", "/api/v1/records/cycles", "/api/v1/cases"):
        for param in ("agent_id", "after_id", "limit", "key", "after", "offset"):
            response = client.get(path, params={param: value})
            assert response.status_code < 500, (path, param, response.text)
    for template in ("/api/v1/assets/{}/where", "/api/v1/recalls/{}"):
        response = client.get(template.format(quote(value, safe="")))
        assert response.status_code < 500, (template, response.text)


def test_expiry_takes_days_or_a_future_date() -> None:
    """`90d` counts from now, a date means its start in UTC, and anything else or a past
    date is refused with the accepted forms."""
    now = datetime(2026, 12, 2, 10, tzinfo=UTC)
    assert expiry("90d", now) == now + timedelta(days=90)
    assert expiry("2027-06-30", now) == datetime(2027, 6, 30, tzinfo=UTC)
    for bad in ("soon", "2026-01-01", "-3d"):
        with pytest.raises(ConfigError):
            expiry(bad, now)


def test_only_admin_and_operator_read_raw_scans_and_only_reference_is_open_to_agents() -> None:
    """The grants table says who reads what: raw payloads are for those who run the hub,
    a station's token reads reference data (and the schema) only."""
    readers = {role for role in Role if any(p.value == "scans:read" for p in GRANTS[role])}
    assert readers == {Role.ADMIN, Role.OPERATOR}
    assert {p.value for p in GRANTS[Role.AGENT]} == {"reference:read", "schema:read"}


def test_an_app_with_a_route_that_declares_no_permission_is_not_built() -> None:
    """check_declared names the route that forgot to declare a permission."""
    app = FastAPI()

    @app.get("/api/v1/forgotten")
    def forgotten() -> dict[str, str]:
        return {}

    with pytest.raises(RuntimeError, match="/api/v1/forgotten"):
        guard.check_declared(app, PUBLIC)
