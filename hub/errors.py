"""The hub's one error tree. Foreign errors (SQLAlchemy, paho, pydantic) are mapped here."""

from __future__ import annotations


class HubError(Exception):
    """Base of every error the hub raises on purpose."""


class ConfigError(HubError):
    """The configuration file or environment is invalid."""


class ImportFailed(HubError):
    """Reference data cannot be imported; nothing of it was written. ``row`` (from 1) and
    ``problems`` say where, when one row is at fault."""

    def __init__(
        self, message: str, row: int | None = None, problems: list[dict[str, object]] | None = None
    ) -> None:
        super().__init__(message)
        self.row = row
        self.problems = problems or []


class AuditBroken(HubError):
    """The audit chain does not verify."""


class StoreError(HubError):
    """A database operation failed; ``hub.store.db.mapped`` says which kind."""


class DatabaseUnavailable(StoreError):
    """The database cannot take writes now: refused, gone, disk full, read-only, locked.
    Nothing is acked while it lasts; the hub retries and resumes by itself."""


class WriterBusy(DatabaseUnavailable):
    """The one writer (SQLite) did not take an API change in time; nothing was changed."""


class BadData(StoreError):
    """The database refused these values (too long, a constraint, a character it cannot
    store). Only the scan or message that carried them is set aside; the line goes on."""


class NotReplayed(HubError):
    """A dead letter cannot be replayed; ``reason`` says why, for machines."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
