"""Names on pages: each code as printed beside its name and linked to its record, a person
by name and role, a place by name and path, a load by its cycle label, and free text (an
alert's detail) with the keys in it named the same way.

One ``Glossary`` per rendered page: it holds the page's connection for load labels and
shares the catalogue of names, which ``Names`` caches for a few seconds across pages.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import quote

from markupsafe import Markup, escape
from sqlalchemy.engine import Connection

from hub.store import names
from hub.web import wording
from hub.web.wording import KEY_IN_TEXT, TIME_IN_TEXT, UUID_IN_TEXT, Clock, printed

PATH_SEPARATOR = " › "
SNAKE_WORD = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")


class Names:
    """The catalogue, read at most once per ``max_age_s``: pages refresh on every record
    change, and reference data changes a few times a day."""

    def __init__(self, max_age_s: float = 5.0) -> None:
        self._max_age_s = max_age_s
        self._lock = threading.Lock()
        self._held: names.Catalogue | None = None
        self._read_mono = 0.0

    def current(self, conn: Connection) -> names.Catalogue:
        with self._lock:
            if self._held is None or time.monotonic() - self._read_mono > self._max_age_s:
                self._held = names.catalogue(conn)
                self._read_mono = time.monotonic()
            return self._held


def link(href: str, text: str) -> Markup:
    return Markup('<a href="{}">{}</a>').format(href, text)


def history_href(key: str) -> str:
    return "/history/" + quote(printed(key) or key, safe="")


def load_href(label: str) -> str:
    return "/loads/" + quote(printed(label), safe="")


class Glossary:
    def __init__(
        self,
        conn: Connection,
        catalogue: names.Catalogue,
        clock: Clock,
        guides: Callable[[str], wording.AlertGuide],
    ) -> None:
        self._conn = conn
        self.catalogue = catalogue
        self.clock = clock
        self.guide = guides
        self._loads: dict[str, names.Load] = {}

    # -- things -----------------------------------------------------------------------------

    def name(self, key: str | None) -> str:
        """A code's name as registered, "" when nobody registered it."""
        if not key:
            return ""
        if key in self.catalogue.things:
            return self.catalogue.things[key][1]
        if key in self.catalogue.places:
            return self.catalogue.places[key].name
        if key in self.catalogue.people:
            return self.catalogue.people[key][0]
        return self.catalogue.cases.get(key) or ""

    def thing(self, key: str | None, href: str | None = None) -> Markup:
        """``INS-1041`` linked to its history, beside ``Scalpel handles no. 41``."""
        if not key:
            return Markup("")
        if key in self.catalogue.places:
            return Markup("{}").format(self.place(key))
        if key in self.catalogue.people:
            return Markup("{}").format(self.person(key))
        kind = self.catalogue.things.get(key, ("", ""))[0]
        if kind == "sterilizer":
            href = href or "/loads?sterilizer=" + quote(printed(key), safe="")
        code = link(href or history_href(key), printed(key))
        label = self.name(key)
        return Markup("{} {}").format(code, label) if label else code

    def person(self, badge: str | None) -> str:
        """``Olga Ruiz (SPD technician)``; an unregistered badge as printed; a signed-in
        user (``user:olga``) by username."""
        if not badge:
            return ""
        if badge in self.catalogue.people:
            person, role = self.catalogue.people[badge]
            return f"{person} ({role})" if role else person
        if badge.startswith(("user:", "token:")):
            return badge.split(":", 1)[1]
        if badge.startswith("cli:"):
            return f"the {badge.split(':', 1)[1]} command"
        return printed(badge)

    def place(self, key: str | None) -> str:
        """``Operating room 1 › Surgery › Floor 2 › Main building``: from the room up to
        the building, the site left out. An item last seen at a station that names no room
        is where that station is, by its name; an unregistered place as printed."""
        if not key:
            return ""
        path: list[str] = []
        at: str | None = key
        while at is not None and at in self.catalogue.places and len(path) < 12:
            place = self.catalogue.places[at]
            if place.level == "site" and path:
                break
            path.append(place.name)
            at = place.parent
        if path:
            return PATH_SEPARATOR.join(path)
        return self.catalogue.stations.get(key) or printed(key)

    def station(self, agent_id: str | None) -> str:
        """A station by the name its agent reports (``OR 1``), else by its agent id."""
        if not agent_id:
            return ""
        return self.catalogue.stations.get(agent_id) or agent_id

    def station_link(self, agent_id: str | None) -> Markup:
        """A station by name, linked to its page (its time offline, its alerts)."""
        if not agent_id:
            return Markup("")
        return link("/stations/" + quote(agent_id, safe=""), self.station(agent_id))

    def is_load_label(self, key: str) -> bool:
        sterilizer = key.rpartition(".")[0]
        return bool(sterilizer) and self.catalogue.things.get(sterilizer, ("",))[0] == "sterilizer"

    def subject(self, key: str | None) -> Markup:
        """What an alert is about, linked: a load (by session id or cycle label), or a code."""
        if not key:
            return Markup("")
        if UUID_IN_TEXT.fullmatch(key):
            return self.load(key)
        if self.is_load_label(key):
            return Markup("load {}").format(link(load_href(key), printed(key)))
        return self.thing(key)

    # -- loads ------------------------------------------------------------------------------

    def prefetch_loads(self, session_ids: list[str | None]) -> None:
        """Read many loads at once, before a table names them one by one."""
        missing = [s for s in session_ids if s and s not in self._loads]
        self._loads.update(names.loads(self._conn, missing))

    def _load(self, session_id: str | None) -> names.Load | None:
        if not session_id:
            return None
        if session_id not in self._loads:
            self.prefetch_loads([session_id])
        return self._loads.get(session_id)

    def load(self, session_id: str | None) -> Markup:
        """A load by its cycle label (``STE-01.502``), linked to its record."""
        found = self._load(session_id)
        if found is None:
            return Markup("a load not yet recorded") if session_id else Markup("")
        if not found.numbered:
            return Markup("a load on {} with no cycle number").format(self.thing(found.label))
        return link(load_href(found.label), printed(found.label))

    def load_outcome(self, session_id: str | None) -> Markup:
        """``(prevac, 4 min at 134 °C): cycle passed, BI failed, quarantined``."""
        found = self._load(session_id)
        if found is None:
            return Markup("")
        setup = ", ".join(
            p
            for p in (
                found.cycle_type,
                f"{found.exposure_min} min" if found.exposure_min else None,
                f"{found.temperature_c} °C" if found.temperature_c else None,
            )
            if p
        )
        said = [f"cycle {wording.word(found.result)}" if found.result else "cycle running"]
        if found.bi_result:
            said.append(f"BI {wording.word(found.bi_result)}")
        said.append(f"load {wording.word(found.status)}")
        return Markup("{}: {}").format(f" ({setup})" if setup else "", ", ".join(said))

    # -- times ------------------------------------------------------------------------------

    def when(self, at: datetime | str | None) -> Markup:
        """Local time to the second, with "4 min ago" when recent; the machine-readable
        time stays in the element's attribute, off the page's text."""
        local = self.clock.local(at)
        if local is None:
            return Markup("")
        ago = self.clock.ago(local)
        return Markup('<time datetime="{}">{}</time>{}').format(
            local.isoformat(),
            self.clock.time(local),
            Markup(' <span class="ago">({})</span>').format(ago) if ago else "",
        )

    # -- free text --------------------------------------------------------------------------

    def prose(self, text: str | None) -> Markup:
        """Text that names things by key (an alert's detail): each key printed, linked and
        named, each load id as its cycle label. Everything else is escaped as it is."""
        if not text:
            return Markup("")
        self.prefetch_loads(UUID_IN_TEXT.findall(text))
        out: list[Markup | str] = []
        at = 0
        spans = sorted(
            [(m.start(), m.end(), "key") for m in KEY_IN_TEXT.finditer(text)]
            + [(m.start(), m.end(), "uuid") for m in UUID_IN_TEXT.finditer(text)]
            + [(m.start(), m.end(), "time") for m in TIME_IN_TEXT.finditer(text)]
        )
        for start, end, what in spans:
            if start < at:
                continue
            out.append(escape(text[at:start]))
            token = text[start:end].rstrip(".:")  # a key ending a sentence or a clause
            end = start + len(token)
            if what == "time" and len(token) == len("2026-12-06"):
                out.append(self.clock.day(token))  # a date as the hub wrote it
            elif what == "time":
                out.append(self.clock.time(datetime.fromisoformat(token).replace(tzinfo=UTC)))
            elif what == "uuid":
                out.append(self.load(token) if token in self._loads else Markup("a record"))
            elif self.is_load_label(token):
                out.append(link(load_href(token), printed(token)))
            else:
                out.append(self.thing(token))
            at = end
        out.append(escape(text[at:]))
        return Markup("").join(out)

    def word(self, value: str | None) -> str:
        return wording.word(value)

    def word_phrase(self, text: str | None) -> str:
        """A phrase the rules wrote with statuses in it ("is in_use") in words."""
        return SNAKE_WORD.sub(lambda m: wording.word(m.group(0)), text or "")

    def printed(self, key: str | None) -> str:
        return printed(key)

    def duration_since(self, at: datetime | None) -> str:
        local = self.clock.local(at)
        return wording.duration(datetime.now(UTC) - local) if local else ""

    def duration_between(self, start: datetime | str | None, end: datetime | str | None) -> str:
        first, last = self.clock.local(start), self.clock.local(end)
        return wording.duration(last - first) if first and last else ""

    def duration(self, seconds: float | None) -> str:
        return wording.duration(seconds)

    def held(self, seconds: float | None) -> str:
        """A time a reviewer signs off on, to the second: ``4 min 29 s``."""
        if seconds is None:
            return ""
        minutes, rest = divmod(round(seconds), 60)
        if not minutes:
            return f"{rest} s"
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"

    def period(self, name: str) -> str:
        """A report's period: a day (``2026-12-06``) or an ISO week (``2026-W49``)."""
        if "-W" in name:
            year, week = name.split("-W")
            return f"week {int(week)} of {year}"
        return self.clock.day(name)
