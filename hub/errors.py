"""The hub's one error tree. Foreign errors (SQLAlchemy, paho, pydantic) are mapped here."""

from __future__ import annotations


class HubError(Exception):
    """Base of every error the hub raises on purpose."""


class ConfigError(HubError):
    """The configuration file or environment is invalid."""


class ImportFailed(HubError):
    """A reference data file cannot be imported; nothing from it was written."""


class AuditBroken(HubError):
    """The audit chain does not verify."""
