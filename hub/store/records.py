"""Tables of reference data and of records derived from the scan log (DESIGN.md §6).

Records are derived: ``scantrail-hub rebuild`` recomputes every table in ``RECORDS`` from the
scan log. Reference data is imported (``scantrail-hub import``) and never derived. The audit
log and alerts are what the hub learned and when: a rebuild appends to them, never rewrites.

Event keys (``*_key`` columns) are ``<event time ISO>|<agent>|<incarnation>|<seq>``: they sort
in event order, break ties the same way everywhere, and name the cause scan.
"""

from __future__ import annotations

import sqlalchemy as sa

from hub.store.tables import Code, Id, IdText, ShortText, Timestamp, metadata

Key = sa.String(160)  # an event key
Text = sa.Text

# -- reference data -----------------------------------------------------------------------

ref_instruments = sa.Table(
    "ref_instruments",
    metadata,
    sa.Column("code", Code, primary_key=True),
    sa.Column("name", Text, nullable=False),
    sa.Column("sku", Text),
    sa.Column("udi", Text),
    sa.Column("category", Text),
    # An implant's load is held until its biological indicator passes (AAMI ST79).
    sa.Column("implant", sa.Boolean, nullable=False, server_default=sa.false()),
)
ref_trays = sa.Table(
    "ref_trays",
    metadata,
    sa.Column("code", Code, primary_key=True),
    sa.Column("name", Text, nullable=False),
    sa.Column("recipe", Text, nullable=False),  # JSON {instrument code or category: quantity}
)
ref_sterilizers = sa.Table(
    "ref_sterilizers",
    metadata,
    sa.Column("code", Code, primary_key=True),
    sa.Column("name", Text, nullable=False),
    sa.Column("cycle_types", Text, nullable=False),  # JSON list
    # JSON {cycle type: {set_c, exposure_min, pressure_kpa}}: this sterilizer's own
    # parameters, over ST79's defaults (hub/domain/cycle_record.py).
    sa.Column("cycle_parameters", Text, nullable=False, server_default="{}"),
)
ref_locations = sa.Table(
    "ref_locations",
    metadata,
    sa.Column("code", Code, primary_key=True),
    sa.Column("name", Text, nullable=False),
    sa.Column("level", sa.String(16), nullable=False),  # site|building|floor|department|room|bay
    sa.Column("parent", Code),
    sa.Column("gln", sa.String(13)),
)
ref_assets = sa.Table(
    "ref_assets",
    metadata,
    sa.Column("code", Code, primary_key=True),
    sa.Column("serial", Text),
    sa.Column("model", Text),
    sa.Column("manufacturer", Text),
    sa.Column("category", Text),
    sa.Column("criticality", sa.String(16)),
    # Override the model's (ref_asset_models) when set.
    sa.Column("inspection_interval_days", sa.Integer),
    sa.Column("loan_period_days", sa.Integer),
)
ref_asset_models = sa.Table(
    "ref_asset_models",
    metadata,
    sa.Column("code", Code, primary_key=True),  # the model as ref_assets.model names it
    sa.Column("inspection_interval_days", sa.Integer),  # none: no inspection falls due
    sa.Column("loan_period_days", sa.Integer),  # none: a loan is never overdue
)
ref_staff = sa.Table(
    "ref_staff",
    metadata,
    sa.Column("code", Code, primary_key=True),
    sa.Column("name", Text, nullable=False),
    sa.Column("role", Text, nullable=False),
)
ref_cases = sa.Table(
    "ref_cases",
    metadata,
    sa.Column("code", Code, primary_key=True),
    sa.Column("room", Code),
    sa.Column("scheduled_start", Timestamp),
    sa.Column("procedure", Text),
    sa.Column("trays", Text),  # JSON list: the preference card's required trays
)

REFERENCE = {
    "instruments": ref_instruments,
    "trays": ref_trays,
    "sterilizers": ref_sterilizers,
    "locations": ref_locations,
    "assets": ref_assets,
    "asset_models": ref_asset_models,
    "staff": ref_staff,
    "cases": ref_cases,
}

# -- records --------------------------------------------------------------------------------

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("session_id", ShortText, primary_key=True),
    sa.Column("kind", ShortText, nullable=False),  # the station's session_kind
    sa.Column("key", Code, nullable=False),
    sa.Column("agent_id", IdText, nullable=False),
    sa.Column("station", ShortText),
    sa.Column("operator", Code),
    sa.Column("opened_key", Key, nullable=False),
    sa.Column("opened_at", Timestamp, nullable=False),
    sa.Column("closed_at", Timestamp),
    sa.Column("status", sa.String(16), nullable=False),  # open|closed|cancelled
    sa.Column("result", Code),
)
session_items = sa.Table(
    "session_items",
    metadata,
    sa.Column("session_id", ShortText, primary_key=True),
    sa.Column("action", sa.String(16), primary_key=True),
    sa.Column("item", Code, primary_key=True),
    sa.Column("event_key", Key, nullable=False),
    sa.Column("at", Timestamp, nullable=False),
    sa.Column("condition", ShortText),
)
cycles = sa.Table(
    "cycles",
    metadata,
    sa.Column("session_id", ShortText, primary_key=True),
    sa.Column("sterilizer", Code, nullable=False),
    sa.Column("cycle_number", ShortText),  # a scan's target, as the wire allows
    sa.Column("cycle_type", ShortText),
    sa.Column("operator", Code),
    sa.Column("started_key", Key, nullable=False),
    sa.Column("started_at", Timestamp, nullable=False),
    sa.Column("completed_key", Key),
    sa.Column("completed_at", Timestamp),
    sa.Column("result", sa.String(8)),  # pass|fail
    sa.Column("bi_result", sa.String(8)),
    sa.Column("bi_key", Key),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("item_count", sa.Integer, nullable=False),
    sa.Column("implant", sa.Boolean, nullable=False, server_default=sa.false()),
    # The rest of the AAMI ST79 load record, as scanned (context targets, GS1 fields).
    sa.Column("exposure_min", ShortText),
    sa.Column("temperature_c", ShortText),
    sa.Column("ci_result", ShortText),
    sa.Column("bi_lot", ShortText),  # GS1 (10): up to 20 characters
    sa.Column("bi_expiry", ShortText),  # ISO date from GS1 (17)
    sa.Column("released_by", Code),  # the badge logged in when the load passed
    # An implant load released before its BI passed, and why (entered at the hub).
    sa.Column("early_release_reason", ShortText),
    # The sterilizer's own record of the cycle (cycle_captures), when one was captured: its
    # verdict (pass|fail), the reading that decided it, and why it failed, in words.
    sa.Column("capture", ShortText),
    sa.Column("physical_result", sa.String(8)),
    sa.Column("physical_key", Key),
    sa.Column("physical_reason", Text),
)
# The loads their sterilizer's record failed: the stations' reference notice reads them
# twice a second (hub/store/reference.py ``unsafe``), and they are few among all loads.
sa.Index(
    "ix_cycles_physical_failed",
    cycles.c.session_id,
    sqlite_where=cycles.c.physical_result == "fail",
    postgresql_where=cycles.c.physical_result == "fail",
)
bi_results = sa.Table(
    "bi_results",
    metadata,
    sa.Column("label", Code, primary_key=True),  # sterilizer.cycle_number
    sa.Column("event_key", Key, primary_key=True),
    sa.Column("result", sa.String(8), nullable=False),
    sa.Column("at", Timestamp, nullable=False),
    sa.Column("operator", Code),
)
items = sa.Table(
    "items",  # surgical instruments and trays, one row per physical item
    metadata,
    sa.Column("key", Code, primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("registered", sa.Boolean, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("status_key", Key, nullable=False),
    sa.Column("location", Code),
    sa.Column("location_key", Key),
    sa.Column("last_sterilized_at", Timestamp),
    sa.Column("last_cycle", ShortText),
    sa.Column("last_cycle_key", Key),
    sa.Column("tray", Code),
    sa.Column("tray_key", Key),
    sa.Column("condition", ShortText),
    sa.Column("condition_key", Key),
)
tray_checklists = sa.Table(
    "tray_checklists",
    metadata,
    sa.Column("session_id", ShortText, primary_key=True),
    sa.Column("tray", Code, nullable=False),
    sa.Column("operator", Code),
    sa.Column("started_at", Timestamp, nullable=False),
    sa.Column("completed_at", Timestamp),
    sa.Column("status", sa.String(16), nullable=False),  # open|complete|short|cancelled
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("missing", Text, nullable=False),  # JSON {code: quantity}
    sa.Column("extra", Text, nullable=False),  # JSON [code]
)
usage_logs = sa.Table(
    "usage_logs",
    metadata,
    sa.Column("session_id", ShortText, primary_key=True),
    sa.Column("item", Code, primary_key=True),
    sa.Column("case_ref", Code, nullable=False),
    sa.Column("used_at", Timestamp),
    sa.Column("returned_at", Timestamp),
    sa.Column("condition", ShortText),
    sa.Column("operator", Code),
)
assets = sa.Table(
    "assets",
    metadata,
    sa.Column("key", Code, primary_key=True),
    sa.Column("registered", sa.Boolean, nullable=False),
    sa.Column("location", Code),
    sa.Column("location_key", Key),
    sa.Column("status", sa.String(16), nullable=False),  # protocol.vocabulary.AssetStatus
    sa.Column("status_key", Key),
    sa.Column("patient", Code),
    sa.Column("inspected_at", Timestamp),  # the newest inspection, by event time
    sa.Column("inspection_key", Key),
    sa.Column("inspection_result", sa.String(8)),
    sa.Column("inspection_due", Timestamp),
)
assignments = sa.Table(
    "assignments",
    metadata,
    sa.Column("asset", Code, primary_key=True),
    sa.Column("event_key", Key, primary_key=True),
    sa.Column("location", Code, nullable=False),
    sa.Column("started_at", Timestamp, nullable=False),
    sa.Column("ended_at", Timestamp),
    sa.Column("moved_by", Code),
)
equipment_events = sa.Table(
    "equipment_events",
    metadata,
    sa.Column("asset", Code, primary_key=True),
    sa.Column("event_key", Key, primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),  # loan|return|cleaned|<AssetStatus>
    sa.Column("patient", Code),
    sa.Column("at", Timestamp, nullable=False),
    sa.Column("by", Code),  # the badge logged in
)
equipment_logs = sa.Table(
    "equipment_logs",
    metadata,
    sa.Column("asset", Code, primary_key=True),
    sa.Column("loan_key", Key, primary_key=True),
    sa.Column("patient", Code),
    sa.Column("loaned_at", Timestamp, nullable=False),
    sa.Column("returned_at", Timestamp),
    sa.Column("cleaned_at", Timestamp),
    sa.Column("status", sa.String(16), nullable=False),  # on_loan|needs_cleaning|available
    sa.Column("lent_by", Code),
    sa.Column("due_back", Timestamp),  # loaned_at + the asset's loan period
)
inspections = sa.Table(
    "inspections",
    metadata,
    sa.Column("asset", Code, primary_key=True),
    sa.Column("event_key", Key, primary_key=True),
    sa.Column("result", sa.String(8), nullable=False),  # pass|fail
    sa.Column("at", Timestamp, nullable=False),
    sa.Column("inspector", Code),
    sa.Column("next_due", Timestamp),
)

# A cycle as the sterilizer recorded it (protocol/sterilizer.py): one row per cycle the
# station recognised, judged when it ended (hub/reconcile/capture.py), and its readings.
cycle_captures = sa.Table(
    "cycle_captures",
    metadata,
    sa.Column("cycle_id", ShortText, primary_key=True),
    sa.Column("sterilizer", Code, nullable=False),
    sa.Column("cycle_number", ShortText),
    sa.Column("agent_id", IdText, nullable=False),
    sa.Column("started_key", Key, nullable=False),
    sa.Column("started_at", Timestamp, nullable=False),
    sa.Column("load", ShortText),  # the load's session id, once attached
    sa.Column("judged_key", Key),  # the reading that ended it, or the next cycle's first
    sa.Column("ended_at", Timestamp),
    sa.Column("result", sa.String(8)),  # pass|fail
    sa.Column("reasons", Text),  # JSON list, in words
    sa.Column("cycle_type", ShortText),
    sa.Column("set_c", sa.Float),
    sa.Column("exposure_needed_s", sa.Float),
    sa.Column("exposure_held_s", sa.Float),
    sa.Column("exposure_min_c", sa.Float),
    sa.Column("exposure_max_c", sa.Float),
    sa.Column("longest_gap_s", sa.Float),
    sa.Column("completed", sa.Boolean),
    sa.Column("aborted", sa.Boolean),
    sa.Column("readings", sa.Integer, nullable=False, server_default="0"),
    sa.Column("unreadable", sa.Integer, nullable=False, server_default="0"),
)
sa.Index("ix_cycle_captures_sterilizer", cycle_captures.c.sterilizer, cycle_captures.c.started_key)
sa.Index("ix_cycle_captures_load", cycle_captures.c.load)
cycle_readings = sa.Table(
    "cycle_readings",
    metadata,
    sa.Column("cycle_id", ShortText, primary_key=True),
    sa.Column("event_key", Key, primary_key=True),
    sa.Column("at", Timestamp, nullable=False),  # the station's time of reading
    sa.Column("elapsed_s", sa.Float),  # the sterilizer's own clock, from the cycle's start
    sa.Column("phase", sa.String(16)),
    sa.Column("load_c", sa.Float),
    sa.Column("chamber_c", sa.Float),
    sa.Column("jacket_c", sa.Float),
    sa.Column("pressure_kpa", sa.Float),
    sa.Column("raw", Text, nullable=False),
    sa.Column("unreadable", ShortText),
)

RECORDS = (
    sessions,
    session_items,
    cycles,
    bi_results,
    items,
    tray_checklists,
    usage_logs,
    assets,
    assignments,
    equipment_events,
    equipment_logs,
    inspections,
    cycle_captures,
    cycle_readings,
)

# -- what the hub learned, in the order it learned it ----------------------------------------

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("at", Timestamp, nullable=False),
    sa.Column("actor", Code),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("entity", sa.String(32), nullable=False),
    sa.Column("entity_key", Code, nullable=False),
    sa.Column("cause", Key),  # the event key of the scan that caused it
    sa.Column("detail", Text, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)
agent_clocks = sa.Table(
    "agent_clocks",
    metadata,
    sa.Column("agent_id", IdText, primary_key=True),
    sa.Column("boot_id", ShortText, primary_key=True),  # one clock per agent and boot
    sa.Column("offset_s", sa.Float, nullable=False),
    # The hub's time minus the agent's monotonic time (hub/ingest/clocks.py): places a scan
    # of this boot in time whatever its wall clock said.
    sa.Column("boot_offset_s", sa.Float, nullable=True),
    sa.Column("measured_at", Timestamp, nullable=False),
    sa.Column("skewed", sa.Boolean, nullable=False),
)

sa.Index("ix_session_items_item", session_items.c.item, session_items.c.event_key)
# A tray's assemblies, newest first: what it held when it went into a load (containment).
sa.Index("ix_sessions_key", sessions.c.key, sessions.c.opened_key)
# A station's open case, which its next case closes.
sa.Index("ix_sessions_agent", sessions.c.agent_id, sessions.c.opened_key)
sa.Index("ix_cycles_sterilizer", cycles.c.sterilizer, cycles.c.started_key)
# An item's uses in a time window: the recall's cases (migration 0013).
sa.Index("ix_usage_item_used", usage_logs.c.item, usage_logs.c.used_at)
# One code's history, oldest first (/api/v1/history).
sa.Index("ix_audit_entity", audit_log.c.entity_key, audit_log.c.id)
