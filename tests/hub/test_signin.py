"""Sign-in (issue 14): people with argon2 passwords, or API tokens, get a session cookie
that is HttpOnly, SameSite=Strict and Secure over TLS; forms and cookie-borne changes need
the CSRF token; signing out or revoking the token ends the session; roles still decide."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from hub.__main__ import main as hub_main
from hub.access import csrf
from hub.access.roles import Role
from hub.errors import ConfigError
from hub.store import tokens, users
from hub.store.db import create_engine, migrate
from hub.store.tables import alerts, api_tokens
from hub.store.tables import users as users_table
from hub.web import guard
from hub.web.app import create_app
from tests.harness.api import Client, make_token

PASSWORD = "correct horse battery"
BROWSER = {"Accept": "text/html"}


def _person(engine: Any, name: str, role: Role) -> None:
    with engine.begin() as conn:
        users.create(conn, name, role, PASSWORD, datetime.now(UTC))


def _session(response: httpx.Response) -> str:
    assert response.status_code == 303 and response.headers["location"] == "/", response.text
    return response.cookies[guard.COOKIE]


def test_a_person_signs_in_with_a_password_and_gets_a_session_cookie(engine: Any) -> None:
    """Username and password give an HttpOnly, SameSite=Strict session cookie that holds
    neither the password nor a lasting token, and opens the dashboard with their role."""
    _person(engine, "olga", Role.OPERATOR)
    app = create_app(engine)
    anonymous = Client(app, None)
    away = anonymous.get("/", headers=BROWSER)
    assert away.status_code == 303 and away.headers["location"] == "/login"
    signed = anonymous.sign_in(username="olga", password=PASSWORD)
    session = _session(signed)
    cookie = signed.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" not in cookie
    assert PASSWORD not in signed.headers["set-cookie"]
    page = anonymous.get("/", headers={**BROWSER, "Cookie": f"{guard.COOKIE}={session}"})
    assert page.status_code == 200 and "<h1>Fleet</h1>" in page.text
    with engine.connect() as conn:
        holder = tokens.holder(conn, session, datetime.now(UTC))
        stored = conn.execute(sa.select(users_table.c.password_argon2)).scalar_one()
        listed = tokens.listing(conn)
    assert holder is not None and (holder.actor, holder.role) == ("user:olga", Role.OPERATOR)
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert listed == []  # sessions are not API tokens


def test_a_wrong_password_and_an_unknown_name_are_refused_alike(engine: Any) -> None:
    """Both get the same 401 and message, so the refusal does not tell which names exist."""
    _person(engine, "olga", Role.OPERATOR)
    client = Client(create_app(engine), None)
    wrong = client.sign_in(username="olga", password="not the password")
    unknown = client.sign_in(username="nobody", password=PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    assert "do not match" in wrong.text and "do not match" in unknown.text
    assert guard.COOKIE not in wrong.cookies and guard.COOKIE not in unknown.cookies


def test_a_sign_in_form_without_its_csrf_token_is_refused(engine: Any) -> None:
    """A post that did not come from the hub's own form (no field, or another cookie's)
    signs no one in."""
    _person(engine, "olga", Role.OPERATOR)
    client = Client(create_app(engine), None)
    bare = client.request("POST", "/login", data={"username": "olga", "password": PASSWORD})
    forged = client.request(
        "POST",
        "/login",
        data={"username": "olga", "password": PASSWORD, "csrf": "guessed"},
        headers={"Cookie": f"{csrf.COOKIE}=other"},
    )
    assert bare.status_code == forged.status_code == 403
    assert guard.COOKIE not in bare.cookies and guard.COOKIE not in forged.cookies


def test_a_change_made_with_the_cookie_needs_the_csrf_header(engine: Any) -> None:
    """Acknowledging an alert from the browser needs the page's X-CSRF-Token; with it the
    acknowledgement names the person who signed in. A bearer token needs none."""
    _person(engine, "olga", Role.OPERATOR)
    with engine.begin() as conn:
        conn.execute(
            alerts.insert(),
            [{"created_at": datetime.now(UTC), "severity": "high", "kind": "k", "detail": "d"}] * 2,
        )
    app = create_app(engine)
    client = Client(app, None)
    session = _session(client.sign_in(username="olga", password=PASSWORD))
    cookie = {"Cookie": f"{guard.COOKIE}={session}"}
    note = {"note": "seen"}
    refused = client.request("POST", "/api/v1/alerts/1/ack", json=note, headers=cookie)
    assert refused.status_code == 403 and refused.json()["error"]["details"]["reason"] == "csrf"
    header = {**cookie, "X-CSRF-Token": csrf.for_session(session)}
    done = client.request("POST", "/api/v1/alerts/1/ack", json=note, headers=header)
    assert done.status_code == 200 and done.json()["acknowledged_by"] == "user:olga"
    bearer = Client(app, make_token(engine, Role.OPERATOR))
    assert bearer.request("POST", "/api/v1/alerts/2/ack", json=note).status_code == 200


def test_a_viewer_session_cannot_acknowledge(engine: Any) -> None:
    """The session carries the person's role: a viewer's acknowledgement is a 403 even with
    the CSRF header."""
    _person(engine, "vera", Role.VIEWER)
    with engine.begin() as conn:
        conn.execute(
            alerts.insert(),
            [{"created_at": datetime.now(UTC), "severity": "high", "kind": "k", "detail": "d"}],
        )
    client = Client(create_app(engine), None)
    session = _session(client.sign_in(username="vera", password=PASSWORD))
    headers = {"Cookie": f"{guard.COOKIE}={session}", "X-CSRF-Token": csrf.for_session(session)}
    refused = client.request("POST", "/api/v1/alerts/1/ack", json={"note": "x"}, headers=headers)
    assert refused.status_code == 403 and refused.json()["error"]["details"]["role"] == "viewer"


def test_signing_out_ends_the_session_for_good(engine: Any) -> None:
    """After sign-out the old cookie value opens nothing, even if a browser kept it."""
    _person(engine, "olga", Role.OPERATOR)
    client = Client(create_app(engine), None)
    session = _session(client.sign_in(username="olga", password=PASSWORD))
    cookie = {"Cookie": f"{guard.COOKIE}={session}"}
    out = client.request(
        "POST", "/logout", data={"csrf": csrf.for_session(session)}, headers=cookie
    )
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert client.get("/api/v1/agents", headers=cookie).status_code == 401


def test_a_token_sign_in_ends_when_the_token_is_revoked(engine: Any) -> None:
    """Signing in with an API token makes a session named for the token's holder; revoking
    the token ends it too."""
    token = make_token(engine, Role.TECH, "Bench 2")
    client = Client(create_app(engine), None)
    session = _session(client.sign_in(token=token))
    assert session != token
    cookie = {"Cookie": f"{guard.COOKIE}={session}"}
    assert client.get("/api/v1/agents", headers=cookie).status_code == 200
    with engine.begin() as conn:
        (token_id,) = conn.execute(
            sa.select(api_tokens.c.id).where(api_tokens.c.kind == "api")
        ).one()
        assert tokens.revoke(conn, token_id, datetime.now(UTC))
    assert client.get("/api/v1/agents", headers=cookie).status_code == 401


def test_the_cookie_is_secure_when_the_hub_is_reached_over_tls(engine: Any) -> None:
    """Over https the session cookie is marked Secure."""
    _person(engine, "olga", Role.OPERATOR)
    client = Client(create_app(engine), None, base_url="https://hub")
    signed = client.sign_in(username="olga", password=PASSWORD)
    assert signed.status_code == 303 and "secure" in signed.headers["set-cookie"].lower()


def test_users_cli_makes_argon2_accounts_and_refuses_weak_passwords(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`users create --password-stdin` stores an argon2 hash; a short password or a taken
    name is refused with a reason and exit 2; `users list` shows names and roles."""
    config = tmp_path / "hub.toml"
    config.write_text(f'database_url = "sqlite:///{tmp_path / "hub.db"}"\n')

    def create(name: str, password: str) -> int:
        monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
        args = ["users", "--config", str(config), "create", "--username", name]
        return hub_main([*args, "--role", "tech", "--password-stdin"])

    assert create("ana", PASSWORD) == 0
    assert create("ben", "short") == 2
    assert "at least 10 characters" in capsys.readouterr().err
    assert create("ana", PASSWORD) == 2
    assert "exists already" in capsys.readouterr().err
    assert hub_main(["users", "--config", str(config), "list"]) == 0
    assert "ana\ttech" in capsys.readouterr().out
    engine = create_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    with engine.connect() as conn:
        assert users.authenticate(conn, "ana", PASSWORD) is Role.TECH
        assert users.authenticate(conn, "ana", PASSWORD + "!") is None
        with pytest.raises(ConfigError):
            users.create(conn, "", Role.TECH, PASSWORD, datetime.now(UTC))
    engine.dispose()


def test_an_account_is_made_while_a_running_hub_writes(sqlite_url: str) -> None:
    """`users create` beside a hub committing on the same SQLite file waits for its turn
    instead of failing "database is locked" (it writes before it reads anything)."""
    import threading

    engine = create_engine(sqlite_url)
    migrate(engine)
    writing, done = threading.Event(), threading.Event()

    def hub_writer() -> None:
        with engine.begin() as conn:
            conn.execute(
                alerts.insert(),
                {"created_at": datetime.now(UTC), "severity": "low", "kind": "k", "detail": "d"},
            )
            writing.set()
            done.wait(2)  # the write lock is held while the account is being made

    writer = threading.Thread(target=hub_writer)
    writer.start()
    assert writing.wait(30)
    try:
        with engine.begin() as conn:
            users.create(conn, "ana", Role.TECH, PASSWORD, datetime.now(UTC))
    finally:
        done.set()
        writer.join(30)
    with engine.connect() as conn:
        assert users.authenticate(conn, "ana", PASSWORD) is Role.TECH
    engine.dispose()
