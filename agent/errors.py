"""The agent's one error tree. Foreign errors (sqlite3, OSError, pydantic) are mapped here."""

from __future__ import annotations


class AgentError(Exception):
    """Base of every error the agent raises on purpose."""


class ConfigError(AgentError):
    """The configuration file or environment is invalid."""


class StoreError(AgentError):
    """The outbox could not keep a scan."""


class StoreFull(StoreError):
    """The outbox reached its disk budget; new scans are refused, nothing is evicted."""


class StoreCorrupt(StoreError):
    """The outbox file failed its integrity check."""


class ControlError(AgentError):
    """The local control socket could not be reached or answered nonsense."""
