"""Reference data: its rows' validation, and writing them. ``scantrail-hub import KIND FILE``
(CSV with a header, or JSON) and the API's writes (hub/web/reference_routes.py) both come
here, so a row is checked the same way whichever way it arrives.

A file is imported whole or not at all: every row is validated first and the first bad
row is reported with its number. Codes may be given as printed on the label or as the
decoded key; both are stored as the key the hub files scans under (DESIGN.md §4). Rows
replace earlier rows with the same code. Records already created from scans of a code
that is now registered lose their "unregistered" flag. Every row written or deleted is an
audit entry naming who did it.
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from sqlalchemy.engine import Connection, Engine

from hub.errors import ImportFailed
from hub.store.audit_chain import append, encode_detail
from hub.store.db import as_utc, upsert, utc_values
from hub.store.records import REFERENCE, assets, items
from protocol.barcodes import DEFAULT_RULES, Decoded, DecodeRules, Kind, as_key, decode
from protocol.barcodes.decode import KEY_SCHEMES
from protocol.messages import MAX_RAW_CHARS

MAX_DAYS = 36_500  # a care interval over a century is a typo, and PostgreSQL's integer ends
MAX_QUANTITY = 10_000  # of one line of a count sheet


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


# What each text field declares, so the schema says what is refused (PostgreSQL cannot keep
# a NUL in text; a name or code of blanks is no name) and the checks run before any decoding.
NO_NUL = "^[^\\x00]*$"
# Blank as ECMA-262's \\s, the schema's regex dialect, spelled out so Python's strip and
# regex, and any client's, agree on it (each language's own \\s differs at the edges).
BLANKS = (
    "\t\n\v\f\r \u00a0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + ("\u2028\u2029\u202f\u205f\u3000\ufeff")
)
_BLANK_CLASS = "".join(f"\\u{ord(c):04x}" for c in BLANKS)
NOT_BLANK = f"^[^\\x00]*[^\\x00{_BLANK_CLASS}][^\\x00]*$"
# A code is kept as its key, which may add a scheme ("hibc-secondary:") to the text.
MAX_CODE_CHARS = MAX_RAW_CHARS - len(max(KEY_SCHEMES, key=len))
# A name or a note of the catalogue: the columns are unbounded text, so the bound is here
# (a 20 MiB category was once stored from one PUT).
MAX_TEXT_CHARS = 500
Text = Annotated[str, Field(max_length=MAX_TEXT_CHARS, pattern=NO_NUL)]
Name = Annotated[str, Field(min_length=1, max_length=MAX_TEXT_CHARS, pattern=NOT_BLANK)]
CodeText = Annotated[str, Field(min_length=1, max_length=MAX_CODE_CHARS, pattern=NOT_BLANK)]
Days = Annotated[int, Field(ge=1, le=MAX_DAYS)]


def _stripped(value: Any) -> Any:
    """Blanks around a value, or around each of a list's or a count sheet's, are dropped:
    the same ``BLANKS`` the schema's patterns name."""
    if isinstance(value, str):
        return value.strip(BLANKS)
    if isinstance(value, list):
        return [_stripped(v) for v in value]
    if isinstance(value, dict):
        return {_stripped(k): v for k, v in value.items()}
    return value


class RefRow(BaseModel):
    """A row of any reference kind."""

    model_config = ConfigDict(extra="ignore")

    code: CodeText

    _strip = field_validator("*", mode="before")(_stripped)


class _Row(RefRow):
    """A row whose code is a label: kept as the key scans of it are filed under."""

    @field_validator("code")
    @classmethod
    def _key(cls, value: str, info: ValidationInfo) -> str:
        return as_key(value, _rules(info))


class Instrument(_Row):
    name: Name
    sku: Text | None = None
    udi: Text | None = None
    category: Text | None = None
    implant: bool = False


class Tray(_Row):
    name: Name
    recipe: dict[
        Annotated[str, Field(max_length=MAX_CODE_CHARS, pattern=NOT_BLANK)],
        Annotated[int, Field(ge=1, le=MAX_QUANTITY)],
    ] = Field(
        min_length=1,
        description="Instrument code or category: how many.",
        # pydantic declares the key pattern as patternProperties, which lets other keys by
        # unchecked; the schema must refuse them as validation does.
        json_schema_extra={"additionalProperties": False},
    )

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
        return {_recipe_line(k, _rules(info)): n for k, n in value.items()}


class CycleParameters(BaseModel):
    """A cycle type's parameters on one sterilizer (hub/domain/cycle_record.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    set_c: float = Field(gt=0, le=200, description="Exposure temperature, °C.")
    exposure_min: float = Field(gt=0, le=600, description="Minutes held at or above it.")
    pressure_kpa: tuple[float, float] | None = Field(
        None, description="The pressure range during exposure, kPa absolute."
    )


class Sterilizer(_Row):
    name: Name
    cycle_types: list[Name] = []
    # Keys as the station scans them (CMD-TYPE-PREVAC is "prevac"), matched in any case.
    cycle_parameters: dict[Annotated[str, Field(max_length=64)], CycleParameters] = {}

    @field_validator("cycle_types", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return (
            [t.strip() for t in value.split(";") if t.strip()] if isinstance(value, str) else value
        )


class Location(_Row):
    name: Name
    level: Literal["site", "building", "floor", "department", "room", "bay"]
    parent: CodeText | None = None
    gln: str | None = Field(None, pattern=r"^[0-9]{13}$")

    @field_validator("parent")
    @classmethod
    def _parent(cls, value: str | None, info: ValidationInfo) -> str | None:
        return as_key(value, _rules(info)) if value else None


class Asset(_Row):
    serial: Text | None = None
    model: Text | None = None
    manufacturer: Text | None = None
    category: Text | None = None
    criticality: Literal["low", "medium", "high", "life_support"] | None = None
    inspection_interval_days: Days | None = None  # overrides the model's
    loan_period_days: Days | None = None  # overrides the model's


class AssetModel(RefRow):
    """An asset model's care intervals. Its code is the model's name as the asset rows
    give it, not a barcode, so it is not decoded."""

    inspection_interval_days: Days | None = None
    loan_period_days: Days | None = None


class Staff(_Row):
    name: Name
    role: Name


class Case(_Row):
    room: CodeText | None = None
    scheduled_start: datetime | None = None
    procedure: Text | None = None
    trays: list[CodeText] = []  # the preference card: trays the case needs sterile

    @field_validator("scheduled_start")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        # Kept in UTC (SQLite drops an offset); a time given without one is taken as UTC.
        return as_utc(value) if value is not None else None

    @field_validator("room")
    @classmethod
    def _room(cls, value: str | None, info: ValidationInfo) -> str | None:
        return as_key(value, _rules(info)) if value else None

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
        return [as_key(tray, _rules(info)) for tray in value]


_REGISTERED = {"instruments": items, "trays": items, "assets": assets}  # record of a code

KINDS: dict[str, type[RefRow]] = {
    "instruments": Instrument,
    "trays": Tray,
    "sterilizers": Sterilizer,
    "locations": Location,
    "assets": Asset,
    "asset_models": AssetModel,
    "staff": Staff,
    "cases": Case,
}


def parse(text: str, fmt: str, source: str) -> list[dict[str, Any]]:
    """Rows of a CSV (with a header) or a JSON list of objects; ``source`` names it in errors."""
    if fmt == "json":
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ImportFailed(f"{source} is not valid JSON: {exc}") from exc
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ImportFailed(f"{source} must hold a JSON list of objects")
        return rows
    try:
        reader = csv.DictReader(text.splitlines())
        return [{k: v for k, v in row.items() if k and v not in (None, "")} for row in reader]
    except csv.Error as exc:
        raise ImportFailed(f"{source} is not valid CSV: {exc}") from exc


def read_rows(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportFailed(f"cannot read {path}: {exc}") from exc
    return parse(text, "json" if path.suffix.lower() == ".json" else "csv", str(path))


def model_of(kind: str) -> type[RefRow]:
    model = KINDS.get(kind)
    if model is None:
        raise ImportFailed(f"unknown kind {kind!r}; one of: {', '.join(KINDS)}")
    return model


def validate(
    kind: str, rows: list[dict[str, Any]], rules: DecodeRules, source: str
) -> list[RefRow]:
    """Every row checked, or ImportFailed naming the first bad one by its number (from 1)."""
    model = model_of(kind)
    parsed: list[RefRow] = []
    for number, raw in enumerate(rows, start=1):
        try:
            parsed.append(model.model_validate(raw, context={"rules": rules}))
        except ValidationError as exc:
            where = [".".join(str(p) for p in e["loc"]) for e in exc.errors()]
            problems: list[dict[str, object]] = [
                {"where": w, "problem": e["msg"]} for w, e in zip(where, exc.errors(), strict=True)
            ]
            text = "; ".join(f"{p['where']}: {p['problem']}" for p in problems)
            raise ImportFailed(
                f"{source}: row {number}: {text}", row=number, problems=problems
            ) from None
    return parsed


_JSON_COLUMNS = ("recipe", "cycle_types", "cycle_parameters", "trays")


def key_of(kind: str, code: str, rules: DecodeRules) -> str:
    """The code a row is kept under, from a code as printed or as a key."""
    return code.strip() if kind == "asset_models" else as_key(code, rules)


def stored_values(row: RefRow) -> dict[str, Any]:
    """A row as its table keeps it: lists and count sheets as JSON text."""
    values = row.model_dump()
    for name in _JSON_COLUMNS:
        if name in values:
            values[name] = json.dumps(values[name], sort_keys=True)
    return values


def _read(row: Any) -> dict[str, Any]:
    values = utc_values(row._mapping)
    for name in _JSON_COLUMNS:
        if name in values:
            values[name] = json.loads(values[name]) if values[name] else []
    return values


def rows(
    conn: Connection, kind: str, after: str, limit: int, name: str | None = None
) -> list[dict[str, Any]]:
    """A page of one kind's rows in code order, after the code ``after``; ``name``: only
    those whose name holds it, in any case."""
    table = REFERENCE[kind]
    query = sa.select(table).where(table.c.code > after).order_by(table.c.code).limit(limit)
    if name:
        escaped = name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(table.c.name.ilike(f"%{escaped}%", escape="\\"))
    return [_read(row) for row in conn.execute(query)]


def row(conn: Connection, kind: str, code: str) -> dict[str, Any] | None:
    table = REFERENCE[kind]
    found = conn.execute(sa.select(table).where(table.c.code == code)).first()
    return _read(found) if found is not None else None


def store(conn: Connection, kind: str, parsed: list[RefRow], actor: str, now: datetime) -> None:
    """Write the rows, each an audit entry naming ``actor``; the caller commits."""
    table = REFERENCE[kind]
    for row in parsed:
        upsert(conn, table, ["code"], stored_values(row))
    codes = [row.code for row in parsed]
    record = _REGISTERED.get(kind)
    if record is not None and codes:
        conn.execute(record.update().where(record.c.key.in_(codes)).values(registered=True))
    # After the writes: on SQLite they took the write lock the chain needs (audit_chain.py).
    append(
        conn,
        [_entry(kind, row.code, "reference.put", actor, now, row.model_dump()) for row in parsed],
    )


def remove(conn: Connection, kind: str, code: str, actor: str, now: datetime) -> bool:
    """Delete one row; False when there was none. Records of the code become unregistered."""
    table = REFERENCE[kind]
    if conn.execute(table.delete().where(table.c.code == code)).rowcount != 1:
        return False
    record = _REGISTERED.get(kind)
    if record is not None:
        conn.execute(record.update().where(record.c.key == code).values(registered=False))
    append(conn, [_entry(kind, code, "reference.delete", actor, now, {})])
    return True


def _entry(
    kind: str, code: str, action: str, actor: str, now: datetime, values: dict[str, Any]
) -> dict[str, Any]:
    return {
        "at": now,
        "actor": actor,
        "action": action,
        "entity": f"reference.{kind}",
        "entity_key": code,
        "cause": None,
        "detail": encode_detail(values),
    }


def load(engine: Engine, kind: str, path: Path, rules: DecodeRules = DEFAULT_RULES) -> int:
    """Validate every row of ``path``, its codes keyed by the site's decode ``rules``, and
    store them all in one transaction, audited as the command line's."""
    parsed = validate(kind, read_rows(path), rules, str(path))
    with engine.begin() as conn:
        store(conn, kind, parsed, "cli:import", datetime.now(UTC))
    return len(parsed)
