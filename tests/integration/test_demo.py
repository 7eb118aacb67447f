"""`make demo` does what the README says: prints the dashboard URL and stations scan."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_demo_prints_dashboard_url_and_keeps_scans() -> None:
    """The demo starts everything, prints where to look and how to sign in, its stations'
    scans are kept, and its hospital's codes are registered: no unregistered-code alert."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "demo.py"), "--seconds", "4"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "dashboard:  http://127.0.0.1:" in done.stdout
    assert '"outcome": "kept"' in done.stdout
    assert "sign in:    demo / " in done.stdout
    with sqlite3.connect(ROOT / "var" / "demo" / "hub.db") as db:
        registered = db.execute("SELECT count(*) FROM ref_instruments").fetchone()[0]
        noise = db.execute("SELECT detail FROM alerts WHERE kind = 'unregistered_code'").fetchall()
    assert registered > 0 and noise == []


def test_readme_shows_the_two_commands_first() -> None:
    """The README's first commands are make demo and make test, and .ci/run calls make test."""
    readme = (ROOT / "README.md").read_text()
    first_block = readme.split("```sh", 1)[1].split("```", 1)[0]
    assert "make demo" in first_block and "make test" in first_block
    assert "make test" in (ROOT / ".ci" / "run").read_text()
