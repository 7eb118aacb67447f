"""What the routes share, built once by ``create_app`` and handed to each route as a FastAPI
dependency (``Ctx``): no route captures the engine or the settings in a closure."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates
from sqlalchemy.engine import Connection, Engine

from hub.access.roles import Permission
from hub.health import WriterHealth
from hub.metrics import Metrics
from hub.settings import ApiSettings, SiteSettings
from hub.store.writing import Writes
from hub.web.feed import Feed
from hub.web.gate import Gate
from hub.web.glossary import Names
from hub.web.open_streams import Streams
from hub.web.snapshot import SnapshotCache
from hub.web.wording import Clock
from protocol.barcodes import DecodeRules


@dataclass(frozen=True)
class IngestPorts:
    """What the API writes through ingest; the composition root hands it in, as the web
    layer imports no ingest (hub/ingest/replay.py, hub/ingest/manual.py)."""

    # (connection, dead letter id, who, now) -> what the replay stored, or None: no letter
    replay: Callable[[Connection, int, str, datetime], dict[str, Any] | None]
    # (connection, load session id, fields, who, now) -> the seqs of the scans entered
    enter: Callable[[Connection, str, dict[str, Any], str, datetime], list[int]]


@dataclass(frozen=True)
class Web:
    engine: Engine  # reads: each route opens its own connection
    write: Writes  # every change (hub/store/writing.py)
    rules: DecodeRules
    api: ApiSettings
    site: SiteSettings
    clock: Clock  # the site's zone, for the pages
    templates: Jinja2Templates
    writer: Callable[[], WriterHealth]  # how the hub's writer thread is doing
    ingest: IngestPorts | None  # None: this process does not ingest (the CLI's app)
    metrics: Metrics
    fixed: Mapping[Permission, str]  # tokens from the config, each granting one permission
    snapshots: SnapshotCache  # the reference snapshot stations poll
    streams: Streams  # the live streams open, per token
    feed: Feed  # what the live streams read
    gate: Gate  # sign-in's throttle and CSRF key
    names: Names  # the pages' catalogue of names


def web(request: Request) -> Web:
    shared: Web = request.app.state.web
    return shared


Ctx = Annotated[Web, Depends(web)]
