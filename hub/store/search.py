"""Find instruments, trays and assets by code or name, as a person types either."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.store.records import assets, items, ref_assets, ref_instruments, ref_trays
from protocol.barcodes import as_key
from protocol.barcodes.rules import DecodeRules

# The reference kinds searched, with the column a person reads as the name.
_NAMED = (
    ("instrument", ref_instruments, ref_instruments.c.name),
    ("tray", ref_trays, ref_trays.c.name),
    ("asset", ref_assets, ref_assets.c.model),
)


def find(conn: Connection, text: str, rules: DecodeRules, limit: int = 50) -> list[dict[str, Any]]:
    """Codes equal to ``text`` (as printed or as a key), or containing it, or names containing
    it, in any case; each with its record's status and location when it has one."""
    text = text.strip()
    if not text:
        return []
    key = as_key(text, rules)
    pattern = f"%{_escape(text.lower())}%"
    found: dict[str, dict[str, Any]] = {}
    for kind, table, name in _NAMED:
        query = (
            sa.select(table.c.code, name.label("name"))
            .where(
                sa.or_(
                    table.c.code == key,
                    sa.func.lower(table.c.code).like(pattern, escape="\\"),
                    sa.func.lower(name).like(pattern, escape="\\"),
                )
            )
            .order_by(table.c.code)
            .limit(limit)
        )
        for code, label in conn.execute(query):
            found.setdefault(code, {"key": code, "kind": kind, "name": label})
    # Items that reached the hub without reference data are still found by their code.
    seen = conn.execute(
        sa.select(items.c.key, items.c.kind)
        .where(sa.or_(items.c.key == key, sa.func.lower(items.c.key).like(pattern, escape="\\")))
        .order_by(items.c.key)
        .limit(limit)
    )
    for code, kind in seen:
        found.setdefault(code, {"key": code, "kind": kind, "name": None})
    state = {
        row.key: row
        for table in (items, assets)
        for row in conn.execute(
            sa.select(table.c.key, table.c.status, table.c.location).where(
                table.c.key.in_(list(found))
            )
        )
    }
    result = []
    for code, entry in sorted(found.items())[:limit]:
        row = state.get(code)
        result.append(
            {
                **entry,
                "code": code.partition(":")[2] if code.startswith("site:") else code,
                "status": row.status if row else None,
                "location": row.location if row else None,
            }
        )
    return result


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
