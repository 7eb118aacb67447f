"""A short run of the fault matrix (chaos/, `make chaos` runs all of it): a row of each
class of fault, a few rounds each, checked by the same oracle."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.faults import FAULTS
from chaos.matrix import run_row
from tests.harness.postgres import Postgres

pytestmark = pytest.mark.integration

SEED = 20261206
# (fault, database, rounds): every class, both databases. The network class runs "link
# down" alone here: a blackhole has to outlast two keepalives (25 s); `make chaos` runs it.
SHORT = [
    ("agent kill -9 mid-burst", "sqlite", 3),
    ("hub kill -9 during a projection step", "postgresql", 1),
    ("broker kill -9, store deleted", "sqlite", 1),
    ("link down", "postgresql", 1),
    ("PostgreSQL stopped mid-drain", "postgresql", 1),
    ("agent disk full", "sqlite", 1),
    ("hub disk full", "sqlite", 1),
    ("outbox restored from a copy taken mid-write", "sqlite", 1),
    ("a corrupt outbox page", "postgresql", 1),
    ("station clock a day ahead at boot, then stepped right", "postgresql", 1),
    ("broker certificate not yet valid", "sqlite", 1),
    ("serial scanner: noise, a code cut off by unplugging", "postgresql", 1),
    ("evdev scanner: SYN_DROPPED mid-code, unplugged", "sqlite", 1),
    ("hub clock stepped an hour ahead mid-shift, then back", "postgresql", 1),
    ("garbage, spoofed and replayed payloads", "postgresql", 1),
]


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[Postgres]:
    """A cluster of the module's own: a row may stop it, and other tests share theirs."""
    workdir = Path(tempfile.mkdtemp(prefix="scantrail-chaos-pg-"))
    server = Postgres(workdir)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.mark.parametrize(("name", "database", "rounds"), SHORT)
def test_a_fault_loses_nothing_applies_nothing_twice_and_intake_resumes(
    tmp_path: Path, own_postgres: Postgres, name: str, database: str, rounds: int
) -> None:
    """Through the fault, every scan the station kept is applied by the hub once with its
    content (lost only if its storage lost it first), the hub applies nothing else, the
    records (and for a clock fault, the scan times) equal a fault-free run's, and the
    station's backlog is confirmed after each round by itself."""
    (fault,) = [f for f in FAULTS if f.name == name]
    tmp_path.chmod(0o755)
    row = run_row(fault, database, rounds, SEED, tmp_path, own_postgres)
    assert row.failure is None, row.failure
    assert row.delivered is not None and row.delivered.confirmed > 0
    assert row.delivered.whole, row.delivered
    assert row.differ == {}, row.differ
    assert len(row.recover_s) == rounds
