"""The protocol package's one error tree.

Every failure to turn bytes into a contract message is a ``ProtocolError`` with a
machine-readable ``reason`` (stored on dead letters) and a sentence for people.
"""

from __future__ import annotations


class ProtocolError(Exception):
    """A payload or topic that does not satisfy the v1 wire contract."""

    reason = "protocol_error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason

    @property
    def message(self) -> str:
        return str(self.args[0])


class MalformedPayload(ProtocolError):
    """The bytes are not JSON, or not UTF-8."""

    reason = "malformed_json"


class InvalidPayload(ProtocolError):
    """JSON that breaks the schema: wrong types, missing fields, broken rules."""

    reason = "invalid_payload"


class PayloadTooLarge(ProtocolError):
    """Over the size limits of DESIGN.md §3."""

    reason = "too_large"


class UnknownTopic(ProtocolError):
    """A topic outside the contract's tree."""

    reason = "unknown_topic"
