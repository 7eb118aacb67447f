"""Requests to the hub's app in this process (httpx's ASGI transport), no server needed,
carrying a real token made in the app's database."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.engine import Engine

from hub.access import csrf
from hub.access.roles import Role
from hub.ingest import manual
from hub.ingest.replay import replayer
from hub.store import tokens
from hub.web.app import create_app
from hub.web.context import IngestPorts


def make_token(engine: Engine, role: Role, name: str = "tests") -> str:
    with engine.begin() as conn:
        _, token = tokens.create(conn, name, role, datetime.now(UTC), None)
    return token


class Client:
    def __init__(self, app: FastAPI, token: str | None, base_url: str = "http://hub") -> None:
        self._app = app
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.base_url = base_url

    @classmethod
    def as_role(cls, app: FastAPI, engine: Engine, role: Role = Role.ADMIN) -> Client:
        return cls(app, make_token(engine, role))

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def call() -> httpx.Response:
            transport = httpx.ASGITransport(app=self._app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url=self.base_url) as client:
                headers = {**self.headers, **kwargs.pop("headers", {})}
                return await client.request(method, path, headers=headers, **kwargs)

        return asyncio.run(call())

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def sign_in(self, **form: str) -> httpx.Response:
        """What a browser does: load the form (its pre-session cookie and CSRF field), then
        post it with ``form`` (username and password, or token)."""
        page = self.get("/login", headers={"Accept": "text/html"})
        field = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert page.status_code == 200 and field is not None
        return self.request(
            "POST",
            "/login",
            data={"csrf": field[1], **form},
            headers={"Cookie": f"{csrf.COOKIE}={page.cookies[csrf.COOKIE]}"},
        )

    def status(self, method: str, path: str, headers: dict[str, str] | None = None) -> int:
        """The status the app answers with, read from the response's start; the client then
        disconnects. Works for endless responses (the live stream) as for the rest, which
        httpx's ASGI transport cannot: it waits for the whole body."""
        return asyncio.run(
            _first_status(self._app, method, path, {**self.headers, **(headers or {})})
        )


def asgi_scope(method: str, path: str, headers: dict[str, str]) -> dict[str, Any]:
    """An HTTP request as an ASGI server hands it to the app."""
    url = httpx.URL(path)
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": url.path,
        "raw_path": url.raw_path.split(b"?")[0],
        "query_string": url.query,
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "server": ("hub", 80),
        "client": ("127.0.0.1", 1),
        "root_path": "",
    }


def receiver(gone: asyncio.Event) -> Callable[[], Awaitable[dict[str, Any]]]:
    """An ASGI ``receive`` for a request without a body whose client stays until ``gone``
    is set (a live stream's, say)."""
    asked = False

    async def receive() -> dict[str, Any]:
        nonlocal asked
        if not asked:
            asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    return receive


async def _first_status(app: FastAPI, method: str, path: str, headers: dict[str, str]) -> int:
    scope = asgi_scope(method, path, headers)
    started = asyncio.Event()
    found: list[int] = []
    receive = receiver(started)

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            found.append(int(message["status"]))
            started.set()

    task = asyncio.create_task(app(scope, receive, send))  # type: ignore[arg-type]
    await asyncio.wait_for(started.wait(), timeout=30)
    try:
        await asyncio.wait_for(task, timeout=30)
    except TimeoutError:
        task.cancel()
    return found[0]


def ingesting_app(engine: Engine) -> FastAPI:
    """The app as the serving hub composes it: it replays dead letters and enters load
    fields through ingest (the CLI's app does neither)."""
    return create_app(engine, ingest=IngestPorts(replayer("scantrail"), manual.enter))


def ingesting_client(engine: Engine, role: Role, name: str = "tests") -> Client:
    """A client of ``ingesting_app`` with a token of ``role`` held by ``name``."""
    return Client(ingesting_app(engine), make_token(engine, role, name))
