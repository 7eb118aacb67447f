"""Issue 29, probed as an attacker on the hospital network would: each test closes one
finding and failed on the code before its fix."""

from __future__ import annotations

import asyncio
import io
import os
import re
import stat
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from hub.__main__ import main as hub_main
from hub.access import csrf
from hub.access.roles import Role
from hub.access.throttle import FLOOD
from hub.settings import ApiSettings
from hub.store import tokens, users
from hub.store.db import create_engine, migrate
from hub.store.records import audit_log
from hub.store.tables import alerts, api_tokens
from hub.web import guard
from hub.web.app import create_app
from hub.web.limits import DEFAULT_BYTES, MAX_DEPTH, too_deep
from tests.harness.api import Client, asgi_scope, make_token, receiver
from tests.harness.waiting import until

PASSWORD = "correct horse battery"


def test_every_answer_carries_the_security_headers(engine: Any) -> None:
    """A page, the sign-in form, an API answer, a refusal and a static file each say: only
    this hub's own content, in no frame, no type sniffing, no referrer."""
    app = create_app(engine)
    client = Client.as_role(app, engine, Role.VIEWER)
    anonymous = Client(app, None)
    answers = [
        client.get("/", headers={"Accept": "text/html"}),
        anonymous.get("/login", headers={"Accept": "text/html"}),
        client.get("/api/v1/agents"),
        anonymous.get("/api/v1/agents"),
        anonymous.get("/static/scantrail.js"),
        anonymous.request("POST", "/api/v1/alerts/1/ack", content=b"x" * (DEFAULT_BYTES + 1)),
    ]
    for answer in answers:
        headers = answer.headers
        assert "default-src 'self'" in headers["content-security-policy"], answer.url
        assert "frame-ancestors 'none'" in headers["content-security-policy"], answer.url
        assert headers["x-content-type-options"] == "nosniff", answer.url
        assert headers["referrer-policy"] == "no-referrer", answer.url


def test_pages_hold_no_inline_script_handler_or_style_the_policy_would_refuse(
    engine: Any,
) -> None:
    """The sign-in form, the API docs and a page with a print button run under the policy
    as they are: no <script> without src, no on…= handler, no <style>."""
    app = create_app(engine)
    client = Client.as_role(app, engine, Role.ADMIN)
    pages = [
        Client(app, None).get("/login", headers={"Accept": "text/html"}).text,
        client.get("/api/v1/docs", headers={"Accept": "text/html"}).text,
        client.get("/reports", headers={"Accept": "text/html"}).text,
    ]
    for page in pages:
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), page[:300]
        assert not re.search(r"\son[a-z]+=", page), page[:300]
        assert "<style" not in page, page[:300]


@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "streamed"])
def test_a_body_past_its_limit_is_refused_before_anyone_asks_who_sent_it(
    engine: Any, chunked: bool
) -> None:
    """Without a token, a body over the limit gets 413 (not 401 after reading it all),
    whether its length is declared or it streams in without one."""
    anonymous = Client(create_app(engine), None)
    big = b"[" + b" " * (DEFAULT_BYTES + 10) + b"]"

    async def halves() -> AsyncIterator[bytes]:  # no Content-Length: sent chunked
        yield big[: len(big) // 2]
        yield big[len(big) // 2 :]

    content: Any = halves() if chunked else big
    answer = anonymous.request(
        "POST",
        "/api/v1/alerts/1/ack",
        content=content,
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 413, answer.text
    assert answer.json()["error"]["code"] == "too_large"


def test_json_nested_past_the_limit_is_a_400_not_a_500(engine: Any) -> None:
    """100,000 arrays inside each other is refused before a parser recurses into it; a
    body just inside the limit, and brackets inside strings, still go through."""
    client = Client.as_role(create_app(engine), engine, Role.OPERATOR)
    deep = b"[" * 100_000 + b"]" * 100_000
    answer = client.request(
        "POST", "/api/v1/alerts/1/ack", content=deep, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "malformed_body"
    assert not too_deep(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH)
    assert not too_deep(b'{"note": "' + b"[" * 1000 + b'\\"["}')
    assert too_deep(b"{" * (MAX_DEPTH + 1))


def test_a_last_event_id_past_any_id_is_refused_as_a_422(engine: Any) -> None:
    """A cursor larger than a database integer is not one the stream sent: 422, no
    OverflowError."""
    client = Client.as_role(create_app(engine), engine, Role.VIEWER)
    answer = client.get("/api/v1/stream", headers={"Last-Event-ID": "9" * 30 + ".1"})
    assert answer.status_code == 422, answer.text


def test_signing_out_without_the_forms_csrf_field_still_ends_the_session(engine: Any) -> None:
    """A sign-out that lost its form field deletes the cookie and ends the session too, so
    a copy of the cookie opens nothing."""
    with engine.begin() as conn:
        users.create(conn, "olga", Role.OPERATOR, PASSWORD, datetime.now(UTC))
    client = Client(create_app(engine), None)
    signed = client.sign_in(username="olga", password=PASSWORD)
    cookie = {"Cookie": f"{guard.COOKIE}={signed.cookies[guard.COOKIE]}"}
    assert client.get("/api/v1/agents", headers=cookie).status_code == 200
    out = client.request("POST", "/logout", headers=cookie)
    assert out.status_code == 303
    assert client.get("/api/v1/agents", headers=cookie).status_code == 401


def test_a_sign_in_pair_planted_by_someone_who_can_set_a_cookie_is_refused(engine: Any) -> None:
    """The sign-in form's field is bound to the browser's pre-session cookie by the hub's
    key: a field equal to a cookie someone planted (double submit's weakness) signs no one
    in, nor does a form taken from another browser; the page's own pair does."""
    with engine.begin() as conn:
        users.create(conn, "olga", Role.OPERATOR, PASSWORD, datetime.now(UTC))
    client = Client(create_app(engine), None)
    form = {"username": "olga", "password": PASSWORD}
    planted = client.request(
        "POST",
        "/login",
        data={"csrf": "planted-value", **form},
        headers={"Cookie": f"{csrf.COOKIE}=planted-value"},
    )
    theirs = client.get("/login", headers={"Accept": "text/html"})
    field = re.search(r'name="csrf" value="([^"]+)"', theirs.text)
    assert field is not None
    mine = client.get("/login", headers={"Accept": "text/html"}).cookies[csrf.COOKIE]
    borrowed = client.request(
        "POST",
        "/login",
        data={"csrf": field[1], **form},
        headers={"Cookie": f"{csrf.COOKIE}={mine}"},
    )
    assert planted.status_code == borrowed.status_code == 403
    assert "The form expired" in planted.text
    assert guard.COOKIE not in planted.cookies and guard.COOKIE not in borrowed.cookies
    assert client.sign_in(**form).status_code == 303


def test_a_token_in_the_header_is_not_needed_for_the_limits_to_hold(engine: Any) -> None:
    """With a valid token the same limit holds: an operator cannot send the hub 2 MiB."""
    client = Client(create_app(engine), make_token(engine, Role.ADMIN))
    answer = client.request("POST", "/api/v1/alerts/1/ack", content=b" " * (2 * DEFAULT_BYTES))
    assert answer.status_code == 413


class _Stream:
    """One live stream held open on the app at the ASGI level (httpx's transport waits for
    a whole body, and a stream has none): its status, and the text it sent so far."""

    def __init__(self, app: Any, headers: dict[str, str]) -> None:
        self.status: int | None = None
        self.text = ""
        self.started = asyncio.Event()
        self._gone = asyncio.Event()
        scope = asgi_scope("GET", "/api/v1/stream?kinds=alert", headers)
        self.task = asyncio.create_task(app(scope, receiver(self._gone), self._send))

    async def _send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
            self.started.set()
        elif message["type"] == "http.response.body":
            self.text += bytes(message.get("body", b"")).decode()

    async def close(self) -> None:
        self._gone.set()
        await asyncio.wait_for(self.task, timeout=30)


def test_a_stream_ends_saying_why_when_its_token_is_revoked(engine: Any) -> None:
    """A live stream re-checks its token before every poll: revoked, it sends an `end`
    event that says access ended, and closes (before: it kept sending records)."""
    app = create_app(engine)
    token = make_token(engine, Role.VIEWER, "Ward screen")

    async def run() -> str:
        stream = _Stream(app, {"Authorization": f"Bearer {token}"})
        await asyncio.wait_for(stream.started.wait(), timeout=30)
        assert stream.status == 200
        with engine.begin() as conn:
            (token_id,) = conn.execute(sa.select(api_tokens.c.id)).one()
            assert tokens.revoke(conn, token_id, datetime.now(UTC))
        await asyncio.wait_for(stream.task, timeout=30)  # it ends by itself
        return stream.text

    text = asyncio.run(run())
    assert "event: end" in text and "access ended" in text, text


def test_streams_past_the_per_token_and_the_hub_limits_are_refused_with_429(
    engine: Any,
) -> None:
    """One token holds at most streams_per_token; the hub at most streams_total; past
    either, 429 saying which, and a closed stream frees its place."""
    app = create_app(engine, api=ApiSettings(streams_per_token=2, streams_total=3))
    first = {"Authorization": f"Bearer {make_token(engine, Role.VIEWER, 'one')}"}
    second = {"Authorization": f"Bearer {make_token(engine, Role.VIEWER, 'two')}"}

    async def run() -> list[int | None]:
        held = [_Stream(app, first), _Stream(app, first)]
        await until(lambda: all(s.status for s in held))
        third_of_one = _Stream(app, first)
        held.append(_Stream(app, second))
        await until(lambda: bool(third_of_one.status and held[-1].status))
        over_hub = _Stream(app, second)
        await until(lambda: bool(over_hub.status))
        await held[0].close()
        again = _Stream(app, first)
        await until(lambda: bool(again.status))
        statuses = [third_of_one.status, held[-1].status, over_hub.status, again.status]
        for stream in (*held[1:], again):
            await stream.close()
        return statuses

    assert asyncio.run(run()) == [429, 200, 429, 200]


def test_after_five_wrong_passwords_a_name_waits_and_each_try_is_in_the_audit_trail(
    engine: Any,
) -> None:
    """Five wrong passwords are answered 401; the sixth try, even with the right password,
    is refused 429 with Retry-After and no password check; after the wait the right one
    signs in. Every checked try is in the audit trail with its address, no password."""
    with engine.begin() as conn:
        users.create(conn, "olga", Role.OPERATOR, PASSWORD, datetime.now(UTC))
    client = Client(create_app(engine), None)
    wrong = [
        client.sign_in(username="olga", password=f"guess number {n}").status_code for n in range(5)
    ]
    assert wrong == [401] * 5
    early = client.sign_in(username="olga", password=PASSWORD)
    assert early.status_code == 429 and "try again in" in early.text
    time.sleep(int(early.headers["Retry-After"]) + 0.2)  # the wait itself, not a speed
    assert client.sign_in(username="olga", password=PASSWORD).status_code == 303
    with engine.connect() as conn:
        trail = conn.execute(
            sa.select(audit_log.c.action, audit_log.c.actor, audit_log.c.detail).where(
                audit_log.c.entity == "session"
            )
        ).all()
    assert [action for action, _, _ in trail] == ["signin.failed"] * 5 + ["signin.ok"]
    assert all(actor == "user:olga" for _, actor, _ in trail)
    details = " ".join(str(detail) for _, _, detail in trail)
    assert "127.0.0.1" in details and "guess number" not in details and PASSWORD not in details


def test_a_flood_of_sign_ins_raises_one_signin_flood_alert(engine: Any) -> None:
    """Past FLOOD refused tries from one address within the window, one high alert says
    someone may be guessing passwords; only the first five cost a password check."""
    client = Client(create_app(engine), None)
    for n in range(FLOOD + 5):
        tried = client.sign_in(username=f"name{n % 3}", password="a wrong password")
        assert tried.status_code in (401, 429)
    with engine.connect() as conn:
        flood = conn.execute(
            sa.select(alerts.c.severity, alerts.c.detail).where(alerts.c.kind == "signin_flood")
        ).all()
    assert len(flood) == 1 and flood[0].severity == "high", flood
    assert "127.0.0.1" in flood[0].detail and "guessing" in flood[0].detail


def test_a_catalogue_field_longer_than_its_bound_is_refused_and_nothing_stored(
    engine: Any,
) -> None:
    """A category of 501 characters in a single-row PUT is a 422 naming the field (before:
    a 20 MiB category was stored); 500 is kept."""
    admin = Client(create_app(engine), make_token(engine, Role.ADMIN))
    path = "/api/v1/reference/instruments/INS-7"
    long = admin.request("PUT", path, json={"name": "Kelly clamp", "category": "c" * 501})
    assert long.status_code == 422 and "category" in long.text
    assert admin.get(path).status_code == 404
    fits = admin.request("PUT", path, json={"name": "Kelly clamp", "category": "c" * 500})
    assert fits.status_code == 200, fits.text


def test_a_person_disabled_from_the_cli_is_signed_out_at_once_streams_and_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`users disable` ends the person's sessions and live streams and refuses their
    sign-in; `users enable` lets them in again; `reset-password` ends the sessions and only
    the new password works; `sessions list` and `revoke --id` end one session; `users
    delete` removes them."""
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    config = tmp_path / "hub.toml"
    config.write_text(f'database_url = "{url}"\n')
    engine = create_engine(url)
    migrate(engine)
    with engine.begin() as conn:
        users.create(conn, "olga", Role.OPERATOR, PASSWORD, datetime.now(UTC))
    app = create_app(engine)
    client = Client(app, None)

    def cli(*args: str, stdin: str = "") -> str:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        assert hub_main([args[0], "--config", str(config), *args[1:]]) == 0
        return capsys.readouterr().out

    def session(password: str = PASSWORD) -> dict[str, str]:
        signed = client.sign_in(username="olga", password=password)
        assert signed.status_code == 303, signed.text
        return {"Cookie": f"{guard.COOKIE}={signed.cookies[guard.COOKIE]}"}

    async def disabled_mid_stream(cookie: dict[str, str]) -> str:
        stream = _Stream(app, cookie)
        await asyncio.wait_for(stream.started.wait(), timeout=30)
        cli("users", "disable", "--username", "olga")
        await asyncio.wait_for(stream.task, timeout=30)  # ends by itself
        return stream.text

    cookie = session()
    assert "access ended" in asyncio.run(disabled_mid_stream(cookie))
    assert client.get("/api/v1/agents", headers=cookie).status_code == 401
    assert client.sign_in(username="olga", password=PASSWORD).status_code == 401
    assert "disabled" in cli("users", "list")
    cli("users", "enable", "--username", "olga")
    cookie = session()
    new = "a new one, long"
    cli("users", "reset-password", "--username", "olga", "--password-stdin", stdin=f"{new}\n")
    assert client.get("/api/v1/agents", headers=cookie).status_code == 401
    assert client.sign_in(username="olga", password=PASSWORD).status_code == 401
    first, second = session(new), session(new)
    listed = [line for line in cli("sessions", "list").splitlines() if "\t" in line]
    assert len(listed) == 2 and all("user:olga" in line for line in listed)
    cli("sessions", "revoke", "--id", listed[0].split("\t")[0])
    statuses = [client.get("/api/v1/agents", headers=c).status_code for c in (first, second)]
    assert statuses == [401, 200]
    cli("users", "delete", "--username", "olga")
    assert client.get("/api/v1/agents", headers=second).status_code == 401
    assert "olga" not in cli("users", "list")
    engine.dispose()


def test_an_admin_disables_a_person_through_the_api_and_ends_a_session(engine: Any) -> None:
    """POST /users/olga/disable ends her session and refuses her sign-in; enable lets her
    in; DELETE /sessions/{id} ends one session; an operator may do none of it; each change
    is in the audit trail under the admin."""
    with engine.begin() as conn:
        users.create(conn, "olga", Role.OPERATOR, PASSWORD, datetime.now(UTC))
    app = create_app(engine)
    admin = Client(app, make_token(engine, Role.ADMIN, "Ana"))
    operator = Client(app, make_token(engine, Role.OPERATOR, "Oscar"))
    browser = Client(app, None)
    signed = browser.sign_in(username="olga", password=PASSWORD)
    cookie = {"Cookie": f"{guard.COOKIE}={signed.cookies[guard.COOKIE]}"}
    assert operator.request("POST", "/api/v1/users/olga/disable").status_code == 403
    assert admin.get("/api/v1/users").json()["items"][0]["disabled_at"] is None
    assert admin.request("POST", "/api/v1/users/olga/disable").status_code == 204
    assert browser.get("/api/v1/agents", headers=cookie).status_code == 401
    assert browser.sign_in(username="olga", password=PASSWORD).status_code == 401
    assert admin.request("POST", "/api/v1/users/nobody/disable").status_code == 404
    assert admin.request("POST", "/api/v1/users/olga/enable").status_code == 204
    signed = browser.sign_in(username="olga", password=PASSWORD)
    cookie = {"Cookie": f"{guard.COOKIE}={signed.cookies[guard.COOKIE]}"}
    (live,) = admin.get("/api/v1/sessions").json()["items"]
    assert live["name"] == "user:olga"
    assert admin.request("DELETE", f"/api/v1/sessions/{live['id']}").status_code == 204
    assert browser.get("/api/v1/agents", headers=cookie).status_code == 401
    with engine.connect() as conn:
        trail = conn.execute(
            sa.select(audit_log.c.action, audit_log.c.actor).where(audit_log.c.entity == "access")
        ).all()
    assert [tuple(row) for row in trail] == [
        ("access.disable", "token:Ana"),
        ("access.enable", "token:Ana"),
        ("access.end_session", "token:Ana"),
    ]


def test_a_new_sqlite_database_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    """The hub's file, made from a shell with a permissive umask, and its WAL are 0600
    (before: 0644, password hashes and all, readable by every local user)."""
    old = os.umask(0o022)
    try:
        made = create_engine(f"sqlite:///{tmp_path / 'hub.db'}")
        migrate(made)
        made.dispose()
    finally:
        os.umask(old)
    for name in ("hub.db", "hub.db-wal"):
        path = tmp_path / name
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
    assert (tmp_path / "hub.db").exists()
