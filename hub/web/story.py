"""An item's history told as the auditor reads it: each audit entry one plain sentence
naming what happened, who did it, at which station and when it was scanned, and, when
the scan reached the hub later, how much later. Alerts about it are told in among them.

The audit trail stores each record change as the rules made it (hub/domain/changes.py);
this module only words it. A change it has no sentence for is still told, by its name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from markupsafe import Markup

from hub.domain.statuses import SessionKind
from hub.web import wording
from hub.web.glossary import Glossary

LATE_AFTER_S = 60.0  # a scan that reached the hub this much later says so

# What an item did in each kind of session (AddItem's session kind and action).
_ADDED = {
    ("tray", "add"): "assembled into tray {session}",
    ("load", "add"): "went into load {load}",
    ("case", "use"): "used in case {session}",
    ("case", "return"): "returned from case {session}",
    ("case", "add"): "used in case {session}",
    ("patient", "loan"): "lent to patient {session}",
    ("move", "add"): "picked up to move",
}


@dataclass(frozen=True)
class Line:
    """One line of a history: when, what (a sentence), and how it came to the hub."""

    at: datetime | str | None
    what: Markup
    by: str
    where: str
    late: str
    raw: str | None
    severity: str | None = None  # an alert's

    def csv_row(self, g: Glossary) -> list[str]:
        return [
            g.clock.time(self.at),
            wording.plain(str(self.what)),
            self.by,
            self.where,
            self.late,
            self.raw or "",
        ]


def lines(g: Glossary, entries: list[dict[str, Any]], alerts: list[dict[str, Any]]) -> list[Line]:
    told = [_line(g, e) for e in entries if not _untold(e)]
    told += [_alert_line(g, a) for a in alerts]
    return sorted(told, key=lambda line: _sort_key(g, line.at))


def _untold(entry: dict[str, Any]) -> bool:
    """A porter's move session says nothing its "moved from → to" line does not."""
    return entry["action"] in ("OpenSession", "CloseSession", "AddItem") and (
        (entry.get("detail") or {}).get("kind") == SessionKind.MOVE
    )


def _sort_key(g: Glossary, at: datetime | str | None) -> datetime:
    local = g.clock.local(at)
    return local if local is not None else datetime.min.replace(tzinfo=g.clock.zone)


def _line(g: Glossary, entry: dict[str, Any]) -> Line:
    scanned, received = entry.get("scanned_at"), entry.get("received_at")
    late = ""
    if scanned and received:
        lag = (g.clock.local(received) - g.clock.local(scanned)).total_seconds()  # type: ignore[operator]
        if lag >= LATE_AFTER_S:
            late = f"arrived {wording.duration(lag)} later (station offline)"
    actor = entry.get("actor")
    by = g.person(actor) if actor and actor != "rebuild" else ""
    return Line(
        at=scanned or entry.get("at"),
        what=_what(g, entry["action"], entry.get("detail") or {}),
        by=by,
        where=entry.get("station") or "",
        late=late,
        raw=entry.get("raw"),
    )


def _what(g: Glossary, action: str, d: dict[str, Any]) -> Markup:
    match action:
        case "AddItem":
            kind, act = str(d.get("kind")), str(d.get("action"))
            text = _ADDED.get((kind, act), f"{wording.word(act)} ({wording.word(kind)})")
            session = d.get("session_key")
            said = Markup(text).format(
                session=g.thing(session) if session else "", load=g.load(d.get("session_id"))
            )
            if kind == SessionKind.LOAD:
                said += Markup("{}").format(g.load_outcome(d.get("session_id")))
            if d.get("condition"):
                said += Markup(", condition: {}").format(wording.word(d["condition"]))
            return said
        case "OpenSession":
            return Markup("opened {} for {}").format(
                wording.word(d.get("kind")), g.thing(d.get("key"))
            )
        case "CloseSession":
            return Markup("closed {}").format(wording.word(d.get("kind")))
        case "CancelSession":
            return Markup("cancelled {}").format(wording.word(d.get("kind")))
        case "ChecklistResult":
            missing = d.get("missing") or {}
            if missing:
                items = Markup(", ").join(
                    Markup("{}× {}").format(n, g.thing(code)) for code, n in missing.items()
                )
                return Markup("assembled short, {} of its count sheet; missing {}").format(
                    d.get("count"), items
                )
            return Markup("assembled complete, {} instruments").format(d.get("count"))
        case "CycleField":
            return Markup("load {}: {} set to {}").format(
                g.load(d.get("session_id")), wording.word(d.get("name")), d.get("value")
            )
        case "BiResult":
            return Markup("biological indicator {} for load {}").format(
                wording.word(d.get("result")), g.prose(d.get("label"))
            )
        case "CycleCaptured":
            verdict = "passed" if d.get("result") == "pass" else "failed"
            reasons = "; ".join(d.get("reasons") or ())
            where = g.load(d.get("load")) if d.get("load") else g.thing(d.get("sterilizer"))
            return Markup("cycle captured from the sterilizer for {}: {}{}").format(
                where, verdict, f" ({reasons})" if reasons else ""
            )
        case "MoveAssets":
            return Markup("moved to {}").format(g.place(d.get("location")))
        case "moved":
            if d.get("from"):
                return Markup("moved from {} to {}").format(g.place(d["from"]), g.place(d["to"]))
            return Markup("moved to {}").format(g.place(d.get("to")))
        case "EquipmentEvent":
            patient = d.get("patient")
            return Markup("{}{}").format(
                wording.word(d.get("kind")),
                Markup(" (patient {})").format(g.person(patient)) if patient else "",
            )
        case "Inspection":
            return Markup("inspected: {}").format(wording.word(d.get("result")))
        case "acknowledge":
            return Markup("alert acknowledged: “{}”").format(d.get("note") or "")
        case "reference.put":
            return Markup("registered in the catalogue")
        case "reference.delete":
            return Markup("removed from the catalogue")
    return Markup("{}").format(action.replace("_", " ").replace(".", ": "))


def _alert_line(g: Glossary, alert: dict[str, Any]) -> Line:
    guide = g.guide(alert["kind"])
    return Line(
        at=alert["created_at"],
        what=Markup('<strong class="severity-{}">Alert: {}</strong>. {}').format(
            alert["severity"], guide.title, g.prose(alert["detail"])
        ),
        by="",
        where=g.station(alert.get("agent_id")),
        late="",
        raw=None,
        severity=alert["severity"],
    )
