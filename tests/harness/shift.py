"""A clean shift: every station mode used as the barcode sheet says, with every code
registered, so the hub has nothing to alert about. Used in-process and through the real
path."""

from __future__ import annotations

from typing import Any

# A biological indicator's GS1 label: (01) GTIN, (10) lot, (17) expiry in 2099.
BI_LABEL = "]d20109501101530003102BILOT7\x1d17991231"

REFERENCE: dict[str, list[dict[str, Any]]] = {
    "instruments": [{"code": f"INS-{i}", "name": f"Instrument {i}"} for i in range(1, 8)],
    "trays": [
        {"code": "TRY-MAJOR", "name": "Major set", "recipe": {f"INS-{i}": 1 for i in range(3, 6)}}
    ],
    "sterilizers": [{"code": "STE-A1", "name": "Autoclave A1", "cycle_types": ["prevac"]}],
    "locations": [{"code": "LOC-WARD4", "name": "Ward 4", "level": "department"}],
    "assets": [{"code": c} for c in ("AST-V12", "AST-P1", "AST-P2")],
    "cases": [{"code": "CASE-88", "room": "LOC-OR3", "procedure": "hip"}],
}

# Per station (agent id, mode): what the person scans, in order. The tray is assembled
# complete, then sterilized after the day's Bowie-Dick test with a passing cycle and BI,
# then used and returned in the OR.
SHIFT: list[tuple[str, str, list[str]]] = [
    (
        "pi-tray",
        "tray_assembly",
        ["USR-ANA", "TRY-MAJOR", "INS-3", "INS-4", "INS-5", "CMD-COMPLETE", "CMD-LOGOUT"],
    ),
    (
        "pi-spd",
        "sterilizer",
        [
            "USR-BEN",
            "STE-A1",  # the day's Bowie-Dick test, before the first load
            "STE-A1.100",
            "CMD-TYPE-BOWIE-DICK",
            "CMD-CYCLE-PASS",
            "STE-A1",
            "CMD-CANCEL",  # a load started by mistake
            "STE-A1",
            "STE-A1.101",
            "CMD-TYPE-PREVAC",
            "CMD-EXPOSURE-4",
            "CMD-TEMP-134",
            "CMD-BI-LABEL",
            BI_LABEL,
            "TRY-MAJOR",
            "INS-3",
            "INS-4",
            "INS-5",
            "INS-6",
            "CMD-CI-PASS",
            "USR-DEV",  # a second person releases the load
            "CMD-CYCLE-PASS",
            "STE-A1.101",
            "CMD-BI-PASS",
        ],
    ),
    (
        "pi-or",
        "point_of_use",
        [
            "USR-CAL",
            "CASE-88",
            "INS-3",
            "INS-6",
            "CMD-RETURN",
            "INS-3",
            "CMD-COND-DULL",
            "INS-6",
            "CMD-DONE",
        ],
    ),
    (
        "pi-porter",
        "asset_move",
        [
            "CMD-MODE-ASSET-MOVE",
            "AST-P1",
            "AST-P2",
            "LOC-WARD4",
            "CMD-INSPECT-PASS",  # the biomed check on the way
            "AST-P1",
            "CMD-STATUS-MAINTENANCE",
            "AST-P2",
        ],
    ),
    (
        "pi-ward",
        "equipment_checkout",
        [
            "PAT-1",
            "AST-V12",
            "CMD-RETURN",
            "AST-V12",
            "CMD-CLEANED",
            "AST-V12",
            "PAT-2",
            "CMD-DONE",
        ],
    ),
]
