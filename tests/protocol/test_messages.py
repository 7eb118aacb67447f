"""The v1 contract: golden payloads, strict types and sizes, forward compatibility."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel

from protocol import codec
from protocol.errors import InvalidPayload, MalformedPayload, PayloadTooLarge, ProtocolError
from protocol.messages import (
    MAX_BATCH_BYTES,
    AgentHealth,
    AgentStatus,
    EventBatch,
    HubAck,
    ScanEvent,
)
from tests.harness import factories

GOLDEN = Path(__file__).parent / "golden"
CASES: list[tuple[str, type[BaseModel]]] = [
    ("scan_batch.json", EventBatch),
    ("status.json", AgentStatus),
    ("health.json", AgentHealth),
    ("ack.json", HubAck),
]


@pytest.mark.parametrize(("name", "model"), CASES)
def test_golden_payload_round_trips_unchanged(name: str, model: type[BaseModel]) -> None:
    """Each v1 golden payload decodes, and encodes back to the same JSON document."""
    data = (GOLDEN / name).read_bytes()
    message = codec.decode(model, data)
    assert json.loads(codec.encode(message)) == json.loads(data)


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    """A v1 reader accepts a payload carrying fields added by a newer v1 writer."""
    data = json.loads((GOLDEN / "ack.json").read_text())
    data["added_later"] = {"anything": [1, 2]}
    ack = codec.decode(HubAck, json.dumps(data).encode())
    assert ack.confirmed_seq == 40


def test_messages_are_frozen() -> None:
    """A decoded message cannot be changed after validation."""
    event = factories.scan_event()
    with pytest.raises(ValueError):
        event.seq = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (b"{", MalformedPayload),
        (b"\xff\xfe", MalformedPayload),
        (b"[]", InvalidPayload),
        (b'{"agent_id": 5, "incarnation": "i", "events": []}', InvalidPayload),
        (b'{"agent_id": "a/b", "incarnation": "i", "events": [{}]}', InvalidPayload),
        (b" " * (MAX_BATCH_BYTES + 1), PayloadTooLarge),
    ],
)
def test_bad_batches_raise_typed_protocol_errors(
    payload: bytes, error: type[ProtocolError]
) -> None:
    """Each kind of bad batch raises its own ProtocolError subclass with a reason."""
    with pytest.raises(error) as caught:
        codec.decode(EventBatch, payload)
    assert caught.value.reason and caught.value.message


def test_batch_of_501_events_is_too_large() -> None:
    """A batch carries at most 500 events."""
    events = ",".join(factories.scan_event(seq=s).model_dump_json() for s in range(1, 502))
    payload = f'{{"agent_id":"pi-1","incarnation":"inc1","events":[{events}]}}'.encode()
    with pytest.raises(PayloadTooLarge):
        codec.decode(EventBatch, payload)


def test_raw_over_512_characters_is_invalid() -> None:
    """``raw`` holds at most 512 characters."""
    with pytest.raises(ValueError):
        factories.scan_event(raw="X" * 513)


def test_batch_rejects_events_of_another_agent_or_out_of_order() -> None:
    """A batch is one agent's one incarnation, in strictly increasing seq order."""
    a, b = factories.scan_event(seq=2), factories.scan_event(seq=1)
    with pytest.raises(ValueError, match="increasing"):
        EventBatch(agent_id="pi-1", incarnation="inc1", events=(a, b))
    other = factories.scan_event("pi-2", seq=3)
    with pytest.raises(ValueError, match="belong"):
        EventBatch(agent_id="pi-1", incarnation="inc1", events=(a, other))


def test_naive_timestamps_are_refused_and_offsets_normalised_to_utc() -> None:
    """Times must carry an offset; they are stored in UTC."""
    with pytest.raises(ValueError):
        factories.scan_event(scanned_at="2026-11-21T08:00:00")
    event = factories.scan_event(scanned_at="2026-11-21T09:00:00+01:00")
    assert event.scanned_at.isoformat() == "2026-11-21T08:00:00+00:00"


def test_seq_starts_at_one() -> None:
    """seq 0 is not a valid scan."""
    with pytest.raises(ValueError):
        ScanEvent.model_validate({**factories.scan_event().model_dump(), "seq": 0})


def test_a_batch_framed_from_encoded_events_decodes_as_the_batch_it_frames() -> None:
    """codec.batch, which the sender uses to publish what the outbox keeps, gives bytes
    that decode to the same EventBatch as encoding that batch's model."""
    model = factories.batch("pi-7.b_x", range(1, 6))
    framed = codec.batch(
        model.agent_id, model.incarnation, [codec.encode(e).decode() for e in model.events]
    )
    assert codec.decode(EventBatch, framed) == model
