"""What the hub's tests share: a fresh, migrated database of each kind, alone or with the
hub's real writer on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from hub.store.db import create_engine, migrate
from tests.harness.stations import HubUnderTest


@pytest.fixture
def hub(database_url: str) -> Iterator[HubUnderTest]:
    under_test = HubUnderTest(database_url)
    yield under_test
    under_test.engine.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    made = create_engine(database_url)
    migrate(made)
    yield made
    made.dispose()
