"""What people at each kind of station scan, session after session: the traffic the
benches send. Pure (no hub or agent imports), so a bench can run it against an older tree."""

from __future__ import annotations

import random

MODES = ["sterilizer", "tray_assembly", "point_of_use", "asset_move", "equipment_checkout"]


def station_texts(rng: random.Random, mode: str, n: int, tag: str) -> list[str]:
    """What a person at a station of ``mode`` scans, session after session."""
    out: list[str] = []
    while len(out) < n:
        ins = [f"INS-{tag}-{i}" for i in rng.sample(range(300), 12)]
        if mode == "sterilizer":
            out += ["STE-A1", f"STE-A1.{tag}{len(out)}", *ins, "CMD-CYCLE-PASS"]
        elif mode == "tray_assembly":
            out += [f"TRY-{tag}-{rng.randint(0, 50)}", *ins, "CMD-COMPLETE"]
        elif mode == "point_of_use":
            out += [f"CASE-{tag}-{len(out)}", *ins[:6], "CMD-RETURN", *ins[:6]]
        elif mode == "asset_move":
            out += [
                *(f"AST-{tag}-{i}" for i in rng.sample(range(100), 3)),
                f"LOC-{rng.randint(0, 40)}",
            ]
        else:
            walker = f"AST-W{tag}-{rng.randint(0, 20)}"
            out += [f"PAT-{rng.randint(0, 999)}", walker, "CMD-DONE", walker, "CMD-CLEANED", walker]
    return out[:n]
