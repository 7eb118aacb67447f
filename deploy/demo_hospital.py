"""A small hospital's reference data for `make demo`: two sterilizers, six trays with count
sheets, 120 instruments (a few implants), a location hierarchy with two ORs and ten rooms,
twenty assets, staff badges, and today's cases with the trays they need."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

TRAY_NAMES = (
    "Basic laparotomy",
    "Minor procedures",
    "Hernia set",
    "Orthopaedic implant set",
    "Vascular clamps",
    "Laparoscopy",
)
CATEGORIES = ("scissors", "forceps", "needle holders", "clamps", "retractors", "scalpel handles")


def instrument(n: int) -> str:
    return f"INS-{1000 + n}"


def tray(n: int) -> str:
    return f"TRY-{n:04d}"


def tray_contents(n: int) -> list[str]:
    """Each tray's count sheet: 20 instruments of its own (tray 4 holds the implants)."""
    return [instrument(20 * (n - 1) + k) for k in range(1, 21)]


def reference(now: datetime) -> dict[str, list[dict[str, Any]]]:
    rooms = [f"LOC-ROOM-{n:02d}" for n in range(1, 11)]
    locations = [
        {"code": "LOC-MERCY", "name": "Mercy General", "level": "site"},
        {"code": "LOC-MAIN", "name": "Main building", "level": "building", "parent": "LOC-MERCY"},
        {"code": "LOC-F2", "name": "Floor 2", "level": "floor", "parent": "LOC-MAIN"},
        {
            "code": "LOC-SPD",
            "name": "Sterile processing",
            "level": "department",
            "parent": "LOC-F2",
        },
        {"code": "LOC-SURG", "name": "Surgery", "level": "department", "parent": "LOC-F2"},
        {"code": "LOC-WARD", "name": "Surgical ward", "level": "department", "parent": "LOC-F2"},
        {"code": "LOC-OR-1", "name": "Operating room 1", "level": "room", "parent": "LOC-SURG"},
        {"code": "LOC-OR-2", "name": "Operating room 2", "level": "room", "parent": "LOC-SURG"},
        {"code": "LOC-EQUIP", "name": "Equipment library", "level": "room", "parent": "LOC-SPD"},
        *(
            {"code": room, "name": f"Ward room {n}", "level": "room", "parent": "LOC-WARD"}
            for n, room in enumerate(rooms, 1)
        ),
    ]
    instruments = [
        {
            "code": instrument(n),
            "name": f"{CATEGORIES[n % len(CATEGORIES)].capitalize()} no. {n}",
            "sku": f"SKU-{n:04d}",
            "category": CATEGORIES[n % len(CATEGORIES)],
            "implant": 61 <= n <= 64,  # in tray 4
        }
        for n in range(1, 121)
    ]
    trays = [
        {"code": tray(n), "name": name, "recipe": {code: 1 for code in tray_contents(n)}}
        for n, name in enumerate(TRAY_NAMES, 1)
    ]
    models = [
        {"code": "Volumetric pump VP-5", "inspection_interval_days": 180, "loan_period_days": 3},
        {"code": "Patient monitor PM-9", "inspection_interval_days": 365, "loan_period_days": 7},
    ]
    assets = [
        {
            "code": f"AST-{n:03d}",
            "serial": f"SN-{n:05d}",
            "model": models[n % 2]["code"],
            "manufacturer": "Acme Medical",
            "category": "infusion" if n % 2 == 0 else "monitoring",
            "criticality": "high",
        }
        for n in range(1, 21)
    ]
    staff = [
        {"code": "USR-0101", "name": "Ana Ruiz", "role": "sterile processing tech"},
        {"code": "USR-0102", "name": "Ben Okafor", "role": "sterile processing tech"},
        {"code": "USR-0103", "name": "Chloe Martin", "role": "circulating nurse"},
        {"code": "USR-0104", "name": "Dev Patel", "role": "porter"},
    ]
    sterilizers = [
        {
            "code": f"STE-0{n}",
            "name": f"Steam sterilizer {n}",
            "cycle_types": ["prevac", "bowie-dick"],
        }
        for n in (1, 2)
    ]
    cases = [
        {
            "code": f"CASE-{100 + n}",
            "room": "LOC-OR-1" if n % 2 == 0 else "LOC-OR-2",
            "scheduled_start": (now + timedelta(minutes=40 + 50 * n)).isoformat(),
            "procedure": ("Laparotomy", "Excision of a lesion", "Hernia repair")[n % 3],
            "trays": [tray(1 + n % 3)],
        }
        for n in range(8)
    ]
    return {
        "locations": locations,
        "staff": staff,
        "sterilizers": sterilizers,
        "instruments": instruments,
        "trays": trays,
        "asset_models": models,
        "assets": assets,
        "cases": cases,
    }
