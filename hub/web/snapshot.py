"""The reference snapshot as stations poll it: built at most once per ``max_age_s`` and
served from memory, with an ETag of its contents, so 300 stations asking every minute
cost one build every few seconds and a string compare each."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from protocol.reference import ReferenceSnapshot


@dataclass(frozen=True)
class Served:
    etag: str  # quoted, as the header carries it
    body: bytes
    unsafe_version: str | None


MIN_AGE_S = 0.2


class SnapshotCache:
    def __init__(self, build: Callable[[], ReferenceSnapshot], max_age_s: float = 5.0) -> None:
        self._build = build
        self._max_age_s = max_age_s
        self._lock = threading.Lock()
        self._served: Served | None = None
        self._built_mono = 0.0

    def current(self, unsafe_version: str | None = None) -> Served:
        """The snapshot, built again when older than ``max_age_s`` or, for a station that
        heard the hub's notice of a newer set of unsafe items (``unsafe_version``), older
        than that set; at most every ``MIN_AGE_S`` either way, so a made-up version cannot
        make the hub build on every request."""
        with self._lock:  # one build at a time; the others wait for it and share it
            age = time.monotonic() - self._built_mono
            behind = (
                unsafe_version is not None
                and self._served is not None
                and self._served.unsafe_version != unsafe_version
                and age > MIN_AGE_S
            )
            if self._served is None or age > self._max_age_s or behind:
                self._served = self._fresh(self._build())
                self._built_mono = time.monotonic()
            return self._served

    def _fresh(self, snapshot: ReferenceSnapshot) -> Served:
        # The tag covers the contents, not the build time: an unchanged catalogue is a 304.
        contents = snapshot.model_dump_json(exclude={"built_at"}).encode()
        etag = '"' + hashlib.sha256(contents).hexdigest()[:32] + '"'
        if self._served is not None and self._served.etag == etag:
            return self._served  # keep built_at as when these contents were first seen
        return Served(etag, snapshot.model_dump_json().encode(), snapshot.unsafe_version)
