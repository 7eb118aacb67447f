"""`make demo` does what the README says: it prints the dashboard URL and a sign-in, its
stations play the story (a short tray, a failed BI, a quarantined instrument caught at the
OR, a Pi that loses the network), and `make demo-stop` leaves no process behind."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness.waiting import wait_for

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
VAR = ROOT / "var" / "demo"


def _alerts() -> set[str]:
    with sqlite3.connect(VAR / "hub.db", timeout=10) as db:
        return {kind for (kind,) in db.execute("SELECT kind FROM alerts")}


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    with open(f"/proc/{pid}/stat") as stat:  # a zombie has ended; its parent reaps it
        return stat.read().split()[2] == "Z"


def test_the_demo_tells_its_story_and_demo_stop_ends_it() -> None:
    """The demo prints where to look and how to sign in, then its story a line per scan;
    its hospital's codes are all registered (no unregistered-code alert), its clocks are
    the host's (no clock alert), and the story's alerts appear: tray_short, bi_failed, and
    the quarantined instrument stopped by the OR's station (blocked_use, no unsafe_use);
    Sterilizer 1 prints a good cycle and one that dips in exposure, which fails its load
    and reaches the station's screen (physical_failed); the porter's Pi loses the
    network; `demo.py --stop` ends every process the demo started, and the demo itself."""
    out = VAR.parent / "demo-test.log"
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as log:
        demo = subprocess.Popen(
            [sys.executable, str(ROOT / "deploy" / "demo.py")], stdout=log, stderr=log
        )
    try:

        def started() -> None:
            assert demo.poll() is None, out.read_text()
            assert "sign in:    olga / " in out.read_text()

        wait_for(started, timeout=180)
        text = out.read_text()
        assert "dashboard:  http://127.0.0.1:" in text
        pids = [int(p) for p in (VAR / "pids").read_text().split()]
        assert demo.pid in pids and len(pids) >= 7  # mosquitto, the hub, 4 agents, itself

        def story() -> None:
            seen = _alerts()
            # The quarantined instrument is stopped at the OR by the station itself: the
            # story waits for the hub's notice to reach it before the case.
            assert {"tray_short", "bi_failed", "blocked_use", "physical_failed"} <= seen
            told = out.read_text()
            assert "OR 1          · INS-1041 → STOP: do not use INS-1041 Scalpel" in told
            assert "the hub judged it passed: exposure held 4 min 29 s" in told
            assert "the hub judged it FAILED: exposure held at 132 °C or above for 2 min 29" in told
            assert "Sterilizer 1's screen: STOP. Load STE-01.504 FAILED" in told
            assert "loses the network" in told

        wait_for(story, timeout=300, interval=1)
        assert not _alerts() & {"unregistered_code", "unsafe_use", "clock_unsynced"}
        assert "OR 1 holds the quarantine after" in out.read_text()
        stopped = subprocess.run(
            [sys.executable, str(ROOT / "deploy" / "demo.py"), "--stop"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert stopped.returncode == 0, stopped.stderr
        assert demo.wait(timeout=60) == 0

        def ended() -> None:
            assert [pid for pid in pids if not _gone(pid)] == []

        wait_for(ended, timeout=30)
        assert not (VAR / "pids").exists()
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait(timeout=30)


def test_readme_shows_the_two_commands_first() -> None:
    """The README's first commands are make demo and make test, and .ci/run calls make test."""
    readme = (ROOT / "README.md").read_text()
    first_block = readme.split("```sh", 1)[1].split("```", 1)[0]
    assert "make demo" in first_block and "make test" in first_block
    assert "make test" in (ROOT / ".ci" / "run").read_text()
