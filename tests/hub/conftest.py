"""What the hub's tests share: the hub's real writer on a fresh database of each kind."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness.stations import HubUnderTest


@pytest.fixture
def hub(database_url: str) -> Iterator[HubUnderTest]:
    under_test = HubUnderTest(database_url)
    yield under_test
    under_test.engine.dispose()
