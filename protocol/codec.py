"""Bytes to contract models and back. Every failure is a ``ProtocolError``."""

from __future__ import annotations

import json
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from protocol.errors import InvalidPayload, MalformedPayload, PayloadTooLarge
from protocol.messages import MAX_BATCH_BYTES, MAX_BATCH_EVENTS

M = TypeVar("M", bound=BaseModel)


def encode(message: BaseModel) -> bytes:
    return message.model_dump_json(exclude_none=True).encode()


def batch(agent_id: str, incarnation: str, encoded_events: list[str]) -> bytes:
    """An ``EventBatch`` from events already encoded (``encode`` of each ``ScanEvent``, as
    the outbox keeps them): the same bytes as encoding the model, without parsing every
    event back to write it out again, which would cost the sender as much as publishing.
    The ids are validated by the caller's settings (``AGENT_ID_PATTERN``): JSON-safe."""
    head = json.dumps({"agent_id": agent_id, "incarnation": incarnation})[:-1]
    return f'{head}, "events": [{",".join(encoded_events)}]}}'.encode()


def decode(model: type[M], data: bytes) -> M:
    """Parse ``data`` as ``model`` or raise a ``ProtocolError`` naming what is wrong."""
    if len(data) > MAX_BATCH_BYTES:
        raise PayloadTooLarge(f"payload is {len(data)} bytes; the limit is {MAX_BATCH_BYTES}")
    try:
        return model.model_validate_json(data)
    except ValidationError as exc:
        raise _classify(exc) from None


def _classify(exc: ValidationError) -> InvalidPayload | MalformedPayload | PayloadTooLarge:
    errors = exc.errors(include_url=False, include_input=False)
    if any(e["type"] in ("json_invalid", "json_type") for e in errors):
        return MalformedPayload(f"payload is not valid JSON: {errors[0]['msg']}")
    for e in errors:
        if e["loc"] == ("events",) and e["type"] == "too_long":
            return PayloadTooLarge(f"a batch carries at most {MAX_BATCH_EVENTS} events")
    first = errors[0]
    where = ".".join(str(p) for p in first["loc"]) or "payload"
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    return InvalidPayload(f"{where}: {first['msg']}{more}")
