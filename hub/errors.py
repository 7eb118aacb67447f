"""The hub's one error tree. Foreign errors (SQLAlchemy, paho, pydantic) are mapped here."""

from __future__ import annotations


class HubError(Exception):
    """Base of every error the hub raises on purpose."""


class ConfigError(HubError):
    """The configuration file or environment is invalid."""
