"""The API's writes other than reference data (hub/web/reference_routes.py): acknowledging
an alert, replaying a dead letter, and entering a load's fields. Each is an audit entry
naming who made it. Replaying and entering go through ingest, which the composition
root hands in as ``IngestPorts``: the web layer imports no ingest."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema
from sqlalchemy.engine import Connection

from hub.access.roles import Permission
from hub.domain.statuses import CycleStatus
from hub.errors import BadData, NotReplayed
from hub.store import queries
from hub.store.acknowledge import ALREADY, acknowledge
from hub.web import errors, guard, models
from hub.web.context import Ctx, IngestPorts
from hub.web.errors import NotFound
from hub.web.models import MAX_ID
from protocol.barcodes import Decoded, Kind, as_key, decode


class Acknowledgement(BaseModel):
    # No NUL: PostgreSQL cannot store one in text (errors.no_nul does the same for queries).
    note: str = Field(
        min_length=1,
        max_length=1000,
        pattern=errors.NO_NUL,
        description="What was done about it.",
    )


class LoadFields(BaseModel):
    """A load's fields entered where no command barcode is used; at least one, none null."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})

    cycle_type: str | SkipJsonSchema[None] = Field(None, pattern=r"^[A-Za-z0-9_]{1,32}$")
    exposure_min: float | SkipJsonSchema[None] = Field(None, gt=0, le=1440)
    temperature_c: float | SkipJsonSchema[None] = Field(None, ge=0, le=300)
    ci_result: Literal["pass", "fail"] | SkipJsonSchema[None] = None
    early_release_reason: str | SkipJsonSchema[None] = Field(
        None,
        min_length=1,
        max_length=128,
        pattern=errors.NO_NUL,
        description="Release an implant load before its BI passes, and why.",
    )
    releaser: str | SkipJsonSchema[None] = Field(
        None,
        min_length=1,
        max_length=128,
        pattern=errors.NO_NUL,
        description="The releaser's staff badge, as printed; 422 if it is not one.",
    )

    @model_validator(mode="before")
    @classmethod
    def _given(cls, values: Any) -> Any:
        if isinstance(values, dict):
            if not values:
                raise ValueError("enter at least one field")
            if any(v is None for v in values.values()):
                raise ValueError("a field may not be null: leave it out")
        return values


class EnteredFields(BaseModel):
    load: str = Field(description="The load's session id.")
    seqs: list[int] = Field(description="The hub's scans that carry the entries.")


class ReplayAnswer(BaseModel):
    dead_letter_id: int
    agent_id: str | None
    stored: int = Field(description="Scans new to the scan log.")
    duplicates: int = Field(description="Scans the log held already, with the same content.")
    conflicts: int = Field(description="Seqs the log held with other content; kept as stored.")


def _ingesting(ingest: IngestPorts | None) -> IngestPorts:
    if ingest is None:
        raise errors.Unavailable("this hub process does not ingest; ask the serving hub")
    return ingest


router = APIRouter()


@router.post(
    "/api/v1/dead-letters/{letter_id}/replay",
    dependencies=[guard.permit(Permission.REPLAY_DEAD_LETTERS)],
)
def replay_dead_letter(
    ctx: Ctx, request: Request, letter_id: Annotated[int, Path(ge=1, le=MAX_ID)]
) -> ReplayAnswer:
    """Send a dead letter's scans through ingest again, once its cause is fixed: 409
    naming why when it still cannot be (docs/dead-letters.md)."""
    ports = _ingesting(ctx.ingest)
    by = guard.holder_of(request).actor
    try:
        done = ctx.write(lambda conn: ports.replay(conn, letter_id, by, datetime.now(UTC)))
    except NotReplayed as exc:
        raise errors.Conflict(exc.message, {"reason": exc.reason}) from None
    except BadData as exc:  # its values still do not fit: nothing was written
        message = f"still refused by the database: {exc}"
        raise errors.Conflict(message, {"reason": "still_refused"}) from None
    if done is None:
        raise NotFound(f"no dead letter {letter_id}")
    return ReplayAnswer(**done)


@router.post(
    "/api/v1/alerts/{alert_id}/ack",
    dependencies=[guard.permit(Permission.ACK_ALERTS)],
    response_model=models.Alert,
)
def acknowledge_alert(
    ctx: Ctx,
    request: Request,
    alert_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    body: Acknowledgement,
) -> dict[str, Any]:
    """Acknowledge an alert with a note; the audit trail names who did it."""
    by = guard.holder_of(request).actor
    done = ctx.write(lambda conn: acknowledge(conn, alert_id, by, body.note, datetime.now(UTC)))
    if done is None:
        raise NotFound(f"no alert {alert_id}")
    if done == ALREADY:
        raise errors.Conflict(f"alert {alert_id} was acknowledged already")
    assert isinstance(done, dict)
    return done


@router.post(
    "/api/v1/loads/{label}/fields", dependencies=[guard.permit(Permission.ENTER_LOAD_FIELDS)]
)
def enter_load_fields(
    ctx: Ctx, request: Request, label: Annotated[str, Path(max_length=512)], body: LoadFields
) -> EnteredFields:
    """Enter a load's fields (type, exposure, temperature, chemical indicator, releaser,
    an implant load's early release and why) where no command barcode is used, open or
    closed. Each becomes a scan of the hub's
    own in the scan log, so the record shows it once the projector has applied it and a
    rebuild derives it again; the history names who entered it."""
    ports = _ingesting(ctx.ingest)
    fields = body.model_dump(exclude_none=True)
    if "releaser" in fields:
        badge = decode(fields["releaser"], ctx.rules)
        if not isinstance(badge, Decoded) or badge.kind is not Kind.STAFF:
            raise errors.Invalid(f"releaser {fields['releaser']!r} is not a staff badge")
    key = as_key(label, ctx.rules)
    by = guard.holder_of(request).actor

    def enter(conn: Connection) -> tuple[str, list[int]]:
        load = queries.load_by_label(conn, key)
        if load is None:
            raise NotFound(f"no load labelled {label!r} has reached the hub")
        if load["status"] == CycleStatus.CANCELLED:
            raise errors.Conflict(f"load {label!r} was cancelled; it takes no fields")
        return load["session_id"], ports.enter(
            conn, load["session_id"], fields, by, datetime.now(UTC)
        )

    session_id, seqs = ctx.write(enter)
    return EnteredFields(load=session_id, seqs=seqs)
