"""A load's cycle as its sterilizer recorded it, drawn by matplotlib: the load's (or the
chamber's) temperature and the chamber pressure over the cycle's minutes, the exposure
shaded, the set point drawn across it. SVG, served as an image of its own so it prints
with the page and the page's content policy never meets the plot's inline style.

matplotlib's object API (a ``Figure`` of its own per chart, no pyplot): pyplot keeps
global state, which the API's worker threads would share. It is imported when a chart is
first drawn: a hub that never draws one does not carry its 40 MB (the e2e bench's RSS
target is 250 MB).
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

from hub.web.wording import Clock

TEMPERATURE = "#b03a2e"
PRESSURE = "#1f618d"


def svg(title: str, capture: dict[str, Any], readings: list[dict[str, Any]], clock: Clock) -> bytes:
    """The chart; ``title`` names the load as printed."""
    lines = [r for r in readings if r["phase"] is not None]
    minutes = [_minutes(r, capture) for r in lines]
    temperature = [r["load_c"] if r["load_c"] is not None else r["chamber_c"] for r in lines]
    pressure = [r["pressure_kpa"] for r in lines]
    from matplotlib.figure import Figure  # when first drawn: see the module's docstring

    figure = Figure(figsize=(8, 3.6), dpi=100)
    axis = figure.subplots()
    axis.plot(minutes, temperature, color=TEMPERATURE, linewidth=1.4, label="temperature")
    axis.set_xlabel(f"minutes from the cycle's start, {clock.time(capture['started_at'])}")
    axis.set_ylabel("°C", color=TEMPERATURE)
    exposure = [m for m, r in zip(minutes, lines, strict=True) if r["phase"] == "exposure"]
    if exposure:
        axis.axvspan(min(exposure), max(exposure), color="#f5cba7", alpha=0.5, label="exposure")
    if capture.get("set_c") is not None:
        axis.axhline(
            capture["set_c"],
            color="#555555",
            linestyle="--",
            linewidth=1,
            label=f"set point {capture['set_c']:g} °C",
        )
    right = axis.twinx()
    right.plot(minutes, pressure, color=PRESSURE, linewidth=1, alpha=0.8, label="pressure")
    right.set_ylabel("kPa", color=PRESSURE)
    handles = axis.get_legend_handles_labels()
    more = right.get_legend_handles_labels()
    axis.legend(handles[0] + more[0], handles[1] + more[1], loc="lower center", fontsize=8)
    axis.set_title(title, fontsize=10)
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="svg", metadata={"Date": None})
    return out.getvalue()


def _minutes(reading: dict[str, Any], capture: dict[str, Any]) -> float:
    """By the sterilizer's own clock when it printed one, else by the station's."""
    if reading["elapsed_s"] is not None:
        return float(reading["elapsed_s"]) / 60
    start = datetime.fromisoformat(capture["started_at"])
    return (datetime.fromisoformat(reading["at"]) - start).total_seconds() / 60
