"""Decodes per second on a realistic label mix, as a ratio against biip's bare ``parse``.

Both sides run in this process, on this machine, in the same run; only the ratio is
comparable across machines. Prints one JSON line.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import biip

from protocol.barcodes import decode

GS = "\x1d"
GS1 = [
    "]d2010950600013435217251231" + "10LOT7" + GS + "21SN{n}",
    "]C18017950600013435200015",
    "]d28004950600013435TAG{n}",
    "(01)09506000134352(17)251231(21)XYZ{n}",
    "]C14149506000134352",
]
OTHER = [
    "+A123BJC5D6E71G",
    "+J123AQ3451/$$3231231BC34567/S4012R",
    "INS-{n}",
    "TRY-00{n}",
    "CMD-BI-PASS",
    "garbage {n}",
]


def _rate(fn: Callable[[str], object], inputs: list[str], seconds: float = 1.5) -> float:
    done = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for text in inputs:
            fn(text)
        done += len(inputs)
    return done / (time.perf_counter() - start)


def main() -> None:
    gs1 = [t.replace("{n}", str(n % 10)) for n in range(50) for t in GS1]
    gs1_data = [t[3:] if t.startswith("]") else t for t in gs1]
    # biip's parse does not take the (AI) human-readable form; give it the element string.
    gs1_bare = [t if not t.startswith("(") else "01095060001343521725123121XYZ0" for t in gs1_data]
    mix = gs1 + [t.replace("{n}", str(n)) for n in range(50) for t in OTHER]
    baseline = _rate(biip.parse, gs1_bare)
    ours_gs1 = _rate(decode, gs1)
    ours_mix = _rate(decode, mix)
    print(
        json.dumps(
            {
                "bench": "decode",
                "biip_parse_per_s": round(baseline),
                "decode_gs1_per_s": round(ours_gs1),
                "decode_mix_per_s": round(ours_mix),
                "gs1_ratio_vs_biip": round(ours_gs1 / baseline, 3),
                "mix_ratio_vs_biip": round(ours_mix / baseline, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
