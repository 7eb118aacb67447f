"""Requests to the hub's app in this process (httpx's ASGI transport), no server needed,
carrying a real token made in the app's database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.engine import Engine

from hub.access.roles import Role
from hub.store import tokens


def make_token(engine: Engine, role: Role, name: str = "tests") -> str:
    with engine.begin() as conn:
        _, token = tokens.create(conn, name, role, datetime.now(UTC), None)
    return token


class Client:
    def __init__(self, app: FastAPI, token: str | None) -> None:
        self._app = app
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    @classmethod
    def as_role(cls, app: FastAPI, engine: Engine, role: Role = Role.ADMIN) -> Client:
        return cls(app, make_token(engine, role))

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def call() -> httpx.Response:
            transport = httpx.ASGITransport(app=self._app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
                headers = {**self.headers, **kwargs.pop("headers", {})}
                return await client.request(method, path, headers=headers, **kwargs)

        return asyncio.run(call())

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)
