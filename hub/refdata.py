"""Reference data import: ``scantrail-hub import KIND FILE`` (CSV with a header, or JSON).

A file is imported whole or not at all: every row is validated first and the first bad
row is reported with its number. Codes may be given as printed on the label or as the
decoded key; both are stored as the key the hub files scans under (DESIGN.md §4). Rows
replace earlier rows with the same code. Records already created from scans of a code
that is now registered lose their "unregistered" flag.
"""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from sqlalchemy.engine import Engine

from hub.errors import ImportFailed
from hub.store.db import upsert
from hub.store.records import REFERENCE, assets, items
from protocol.barcodes import DEFAULT_RULES, Decoded, DecodeRules, Kind, decode


def code_key(text: str, rules: DecodeRules = DEFAULT_RULES) -> str:
    """The key scans of this label are filed under; unreadable text is kept as given."""
    result = decode(text.strip(), rules)
    return result.key if isinstance(result, Decoded) else text.strip()


def _rules(info: ValidationInfo) -> DecodeRules:
    """The site's decode rules, handed to validation by ``load``: the hub files a scan under
    the key its own rules give, so reference rows must be keyed by the same rules."""
    context = info.context or {}
    rules: DecodeRules = context.get("rules", DEFAULT_RULES)
    return rules


def _recipe_line(text: str, rules: DecodeRules) -> str:
    """A count sheet line names an instrument label (stored as its key) or a category."""
    result = decode(text.strip(), rules)
    if isinstance(result, Decoded) and result.kind is not Kind.UNKNOWN:
        return result.key
    return text.strip()


class _Row(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    code: str = Field(min_length=1, max_length=512)

    @field_validator("code")
    @classmethod
    def _key(cls, value: str, info: ValidationInfo) -> str:
        return code_key(value, _rules(info))


class Instrument(_Row):
    name: str = Field(min_length=1)
    sku: str | None = None
    udi: str | None = None
    category: str | None = None
    implant: bool = False


class Tray(_Row):
    name: str = Field(min_length=1)
    recipe: dict[str, int]

    @field_validator("recipe", mode="before")
    @classmethod
    def _recipe(cls, value: Any) -> Any:
        # CSV: "INS-0001:2;forceps:4" — an instrument code or a category, and a quantity.
        if isinstance(value, str):
            pairs = [part.rsplit(":", 1) for part in value.split(";") if part.strip()]
            return {code.strip(): qty for code, qty in pairs}
        return value

    @field_validator("recipe")
    @classmethod
    def _recipe_keys(cls, value: dict[str, int], info: ValidationInfo) -> dict[str, int]:
        if not value or any(n < 1 for n in value.values()):
            raise ValueError("a recipe needs at least one line, each with a quantity of 1 or more")
        return {_recipe_line(k, _rules(info)): n for k, n in value.items()}


class Sterilizer(_Row):
    name: str = Field(min_length=1)
    cycle_types: list[str] = []

    @field_validator("cycle_types", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return (
            [t.strip() for t in value.split(";") if t.strip()] if isinstance(value, str) else value
        )


class Location(_Row):
    name: str = Field(min_length=1)
    level: Literal["site", "building", "floor", "department", "room", "bay"]
    parent: str | None = None
    gln: str | None = Field(None, pattern=r"^\d{13}$")

    @field_validator("parent")
    @classmethod
    def _parent(cls, value: str | None, info: ValidationInfo) -> str | None:
        return code_key(value, _rules(info)) if value else None


class Asset(_Row):
    serial: str | None = None
    model: str | None = None
    manufacturer: str | None = None
    category: str | None = None
    criticality: Literal["low", "medium", "high", "life_support"] | None = None
    inspection_interval_days: int | None = Field(None, ge=1)  # overrides the model's
    loan_period_days: int | None = Field(None, ge=1)  # overrides the model's


class AssetModel(BaseModel):
    """An asset model's care intervals. Its code is the model's name as the asset rows
    give it, not a barcode, so it is not decoded."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    code: str = Field(min_length=1, max_length=512)
    inspection_interval_days: int | None = Field(None, ge=1)
    loan_period_days: int | None = Field(None, ge=1)


class Staff(_Row):
    name: str = Field(min_length=1)
    role: str = Field(min_length=1)


class Case(_Row):
    room: str | None = None
    scheduled_start: datetime | None = None
    procedure: str | None = None
    trays: list[str] = []  # the preference card: trays the case needs sterile

    @field_validator("room")
    @classmethod
    def _room(cls, value: str | None, info: ValidationInfo) -> str | None:
        return code_key(value, _rules(info)) if value else None

    @field_validator("trays", mode="before")
    @classmethod
    def _split_trays(cls, value: Any) -> Any:
        # CSV: "TRY-7;TRY-9"
        return (
            [t.strip() for t in value.split(";") if t.strip()] if isinstance(value, str) else value
        )

    @field_validator("trays")
    @classmethod
    def _tray_keys(cls, value: list[str], info: ValidationInfo) -> list[str]:
        return [code_key(tray, _rules(info)) for tray in value]


KINDS: dict[str, type[_Row | AssetModel]] = {
    "instruments": Instrument,
    "trays": Tray,
    "sterilizers": Sterilizer,
    "locations": Location,
    "assets": Asset,
    "asset_models": AssetModel,
    "staff": Staff,
    "cases": Case,
}


def read_rows(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportFailed(f"cannot read {path}: {exc}") from exc
    if path.suffix.lower() == ".json":
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ImportFailed(f"{path} is not valid JSON: {exc}") from exc
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ImportFailed(f"{path} must hold a JSON list of objects")
        return rows
    reader = csv.DictReader(text.splitlines())
    return [{k: v for k, v in row.items() if k and v not in (None, "")} for row in reader]


def load(engine: Engine, kind: str, path: Path, rules: DecodeRules = DEFAULT_RULES) -> int:
    """Validate every row of ``path``, its codes keyed by the site's decode ``rules``, and
    store them all in one transaction."""
    model = KINDS.get(kind)
    if model is None:
        raise ImportFailed(f"unknown kind {kind!r}; one of: {', '.join(KINDS)}")
    parsed: list[_Row | AssetModel] = []
    for number, raw in enumerate(read_rows(path), start=1):
        try:
            parsed.append(model.model_validate(raw, context={"rules": rules}))
        except ValidationError as exc:
            problem = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            raise ImportFailed(f"{path}: row {number}: {problem}") from None
    table = REFERENCE[kind]
    with engine.begin() as conn:
        for row in parsed:
            values = row.model_dump()
            for name in ("recipe", "cycle_types", "trays"):
                if name in values:
                    values[name] = json.dumps(values[name], sort_keys=True)
            upsert(conn, table, ["code"], values)
        codes = [row.code for row in parsed]
        record = {"instruments": items, "trays": items, "assets": assets}.get(kind)
        if record is not None and codes:
            conn.execute(record.update().where(record.c.key.in_(codes)).values(registered=True))
    return len(parsed)
