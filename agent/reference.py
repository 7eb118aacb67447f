"""The station's copy of the hub's reference snapshot (protocol/reference.py).

Pulled with httpx every ``interval_s``, sending the last ETag as ``If-None-Match`` so an
unchanged catalogue costs the hub a 304; a failed request is retried a few times with
tenacity, then left for the next poll. The snapshot is kept in SQLite next to the outbox,
so a station restarted while the hub is unreachable still has it. Its age is the time
since the hub last confirmed it (a 200 or a 304), and the status and health say it.
"""

from __future__ import annotations

import sqlite3
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import structlog
from pydantic import ValidationError
from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from agent.catalog import Catalog
from agent.credentials import secret
from agent.errors import AgentError, ConfigError
from agent.settings import ReferenceSettings
from protocol import codec
from protocol.errors import ProtocolError
from protocol.messages import ReferenceNotice
from protocol.reference import ReferenceSnapshot

log = structlog.get_logger("agent.reference")

PATH = "/api/v1/reference"


class ReferenceUnavailable(AgentError):
    """The hub could not be asked for its snapshot now; the next poll tries again."""


class ReferenceRefused(AgentError):
    """The hub refused the token (401/403) or sent what is not a snapshot."""


@dataclass(frozen=True)
class Kept:
    etag: str
    body: str
    checked_at: float  # wall clock, seconds: when the hub last confirmed this snapshot


class ReferenceStore:
    """One row: the last snapshot, its ETag and when the hub last confirmed it."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS snapshot (id INTEGER PRIMARY KEY CHECK (id = 1),"
            " etag TEXT NOT NULL, body TEXT NOT NULL, checked_at REAL NOT NULL)"
        )
        self._lock = threading.Lock()

    def load(self) -> Kept | None:
        with self._lock:
            row = self._db.execute("SELECT etag, body, checked_at FROM snapshot").fetchone()
        return Kept(*row) if row else None

    def save(self, kept: Kept) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO snapshot (id, etag, body, checked_at) VALUES (1, ?, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET etag = excluded.etag, body = excluded.body,"
                " checked_at = excluded.checked_at",
                (kept.etag, kept.body, kept.checked_at),
            )

    def touch(self, checked_at: float) -> None:
        with self._lock:
            self._db.execute("UPDATE snapshot SET checked_at = ?", (checked_at,))

    def close(self) -> None:
        with self._lock:
            self._db.close()


def token_from(settings: ReferenceSettings) -> str | None:
    """The configured token, else the systemd credential of that name, if any."""
    return secret(settings.token, settings.token_credential)


NOTICE_RETRIES = 10
NOTICE_RETRY_S = 1.0


class ReferencePuller:
    def __init__(
        self,
        settings: ReferenceSettings,
        store: ReferenceStore,
        on_update: Callable[[Catalog], None] = lambda _: None,
    ) -> None:
        self._settings = settings
        self._on_update = on_update  # a new snapshot taken (the puller's thread)
        self._store = store
        self._token = token_from(settings)
        self._verify = _verify(settings)
        self._stop = threading.Event()
        self._wake = threading.Event()  # the hub's notice: pull now, not at the next poll
        self._wanted: str | None = None  # the blocked set the newest notice named
        self._thread = threading.Thread(target=self._run, name="reference", daemon=True)
        self.last_error: str | None = None
        self._kept = store.load()
        self._catalog: Catalog | None = None
        if self._kept is not None:
            try:
                self._catalog = _catalog(self._kept.body)
            except ValidationError:  # kept by another version: fetch it again, whole
                self._kept = None

    @property
    def catalog(self) -> Catalog | None:
        return self._catalog  # swapped whole, never changed in place: safe to read

    def start(self) -> None:
        if self._settings.url is not None:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self._settings.timeout_s * 4)
        self._store.close()

    def age_s(self) -> float | None:
        return max(0.0, time.time() - self._kept.checked_at) if self._kept else None

    def stale(self) -> bool:
        """Configured, and no snapshot, or one the hub has not confirmed for too long."""
        if self._settings.url is None:
            return False
        age = self.age_s()
        return age is None or age > self._settings.stale_after_s

    def status(self) -> dict[str, Any]:
        snapshot = self._catalog.snapshot if self._catalog else None
        return {
            "configured": self._settings.url is not None,
            "etag": self._kept.etag if self._kept else None,
            "age_s": self.age_s(),
            "stale": self.stale(),
            "instruments": len(snapshot.instruments) if snapshot else 0,
            "blocked": len(snapshot.blocked) if snapshot else 0,
            "last_error": self.last_error,
        }

    def poll(self) -> bool:
        """Ask the hub once (with retries); True when the snapshot is current."""
        try:
            for attempt in Retrying(
                stop=stop_after_attempt(3),
                wait=wait_exponential(multiplier=0.5, max=5),
                retry=retry_if_exception_type(ReferenceUnavailable),
                reraise=True,
            ):
                with attempt:
                    self._ask()
        except (ReferenceUnavailable, ReferenceRefused) as exc:
            self.last_error = str(exc)
            log.warning("reference.poll_failed", error=str(exc))
            return False
        self.last_error = None
        return True

    def notice(self, payload: bytes) -> None:
        """The hub's reference notice (paho's thread): wake the puller unless the snapshot
        held already has this blocked set. A notice that does not parse still wakes it: a
        pull costs a 304 at worst."""
        try:
            said = codec.decode(ReferenceNotice, payload)
        except ProtocolError:
            self._wake.set()
            return
        held = self._catalog.snapshot.unsafe_version if self._catalog else None
        if held != said.unsafe_version:
            log.info("reference.notice", unsafe=said.unsafe)
            self._wanted = said.unsafe_version
            self._wake.set()

    def _run(self) -> None:
        behind = 0  # pulls since a notice that have not brought its blocked set yet
        while not self._stop.is_set():
            self.poll()
            held = self._catalog.snapshot.unsafe_version if self._catalog else None
            behind = behind + 1 if self._wanted not in (None, held) else 0
            # The hub may answer from a snapshot built a moment before the change: ask
            # again soon, a few times, then leave it to the next notice or poll.
            soon = 0 < behind < NOTICE_RETRIES
            self._wake.wait(NOTICE_RETRY_S if soon else self._settings.interval_s)
            self._wake.clear()

    def _ask(self) -> None:
        assert self._settings.url is not None
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        if self._kept is not None:
            headers["If-None-Match"] = self._kept.etag
        try:
            response = httpx.get(
                self._settings.url.rstrip("/") + PATH,
                params={"unsafe": self._wanted} if self._wanted else None,
                headers=headers,
                timeout=self._settings.timeout_s,
                verify=self._verify,
            )
        except httpx.HTTPError as exc:
            raise ReferenceUnavailable(f"hub unreachable: {type(exc).__name__}") from exc
        now = time.time()
        if response.status_code == 304 and self._kept is not None:
            self._store.touch(now)
            self._kept = Kept(self._kept.etag, self._kept.body, now)
            return
        if response.status_code in (401, 403):
            raise ReferenceRefused(f"hub refused the token ({response.status_code})")
        if response.status_code != 200:
            raise ReferenceUnavailable(f"hub answered {response.status_code}")
        try:
            catalog = _catalog(response.text)
        except ValidationError as exc:
            raise ReferenceRefused(f"not a snapshot: {exc.error_count()} problems") from None
        kept = Kept(response.headers.get("etag", ""), response.text, now)
        self._store.save(kept)
        self._kept, self._catalog = kept, catalog
        log.info("reference.updated", etag=kept.etag, blocked=len(catalog.snapshot.blocked))
        self._on_update(catalog)


def _verify(settings: ReferenceSettings) -> ssl.SSLContext | bool:
    """The hub's certificate is checked against the site's CA when one is given (the
    bundle's), else against the system's."""
    if settings.tls_ca is None:
        return True
    try:
        return ssl.create_default_context(cafile=str(settings.tls_ca))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"reference.tls_ca {settings.tls_ca}: {exc}") from exc


def _catalog(body: str) -> Catalog:
    return Catalog(ReferenceSnapshot.model_validate_json(body))
