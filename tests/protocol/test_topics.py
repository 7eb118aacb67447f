"""The topic tree: built and parsed in one place, hostile levels refused."""

from __future__ import annotations

import pytest

from protocol.errors import UnknownTopic
from protocol.topics import Topic, subscription


def test_topic_builds_and_parses_back() -> None:
    """A built topic parses back to the same value."""
    topic = Topic("scantrail", "pi-7", "scans")
    assert str(topic) == "scantrail/v1/agents/pi-7/scans"
    assert Topic.parse(str(topic), "scantrail") == topic


@pytest.mark.parametrize(
    "text",
    [
        "scantrail/v1/agents/pi-7/unknown",
        "scantrail/v2/agents/pi-7/scans",
        "other/v1/agents/pi-7/scans",
        "scantrail/v1/agents/pi/7/scans",
        "scantrail/v1/agents/+/scans",
        "scantrail/v1/agents//scans",
        "scantrail/v1/agents/hub/scans",  # the hub's own stream: no agent may use it
    ],
)
def test_foreign_or_hostile_topics_are_refused(text: str) -> None:
    """Topics outside the v1 tree, or with wildcard or empty agent levels, raise UnknownTopic."""
    with pytest.raises(UnknownTopic):
        Topic.parse(text, "scantrail")


def test_subscription_uses_a_single_level_wildcard() -> None:
    """The hub subscribes to one kind for every agent."""
    assert subscription("site/a", "health") == "site/a/v1/agents/+/health"
