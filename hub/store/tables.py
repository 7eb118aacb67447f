"""Table definitions (SQLAlchemy Core). Migrations in ``migrations/versions`` create them."""

from __future__ import annotations

import sqlalchemy as sa

from protocol.messages import MAX_ID_CHARS, MAX_RAW_CHARS, MAX_SHORT_TEXT

metadata = sa.MetaData()

# Column sizes come from the wire's field sizes (protocol/messages.py): a column is never
# narrower than the field it stores, so a value the contract accepts is never refused.
IdText = sa.String(MAX_ID_CHARS)  # agent ids, incarnations
ShortText = sa.String(MAX_SHORT_TEXT)  # context fields: station, session, target, condition
Code = sa.String(MAX_RAW_CHARS)  # a decoded barcode key, at most as long as raw

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL wants BIGINT ids.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)

scan_log = sa.Table(
    "scan_log",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("agent_id", IdText, nullable=False),
    sa.Column("incarnation", IdText, nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("event_id", sa.String(36), nullable=False),
    sa.Column("scanned_at", Timestamp, nullable=False),
    # scanned_at corrected by the agent's clock offset as the hub knew it on arrival; kept
    # so a rebuild orders events exactly as live reconciling did.
    sa.Column("event_at", Timestamp, nullable=True),
    sa.Column("received_at", Timestamp, nullable=False),
    sa.Column("raw", sa.Text, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    # Held already under another numbering (same event id): kept so its stream has no gap,
    # never projected (hub/ingest/inbox.py rule 4).
    sa.Column("duplicate", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.UniqueConstraint("agent_id", "incarnation", "seq", name="uq_scan_log_key"),
)
sa.Index("ix_scan_log_event_id", scan_log.c.event_id)

agent_streams = sa.Table(
    "agent_streams",
    metadata,
    sa.Column("agent_id", IdText, primary_key=True),
    sa.Column("incarnation", IdText, primary_key=True),
    sa.Column("confirmed_seq", sa.BigInteger, nullable=False),
    sa.Column("max_seen_seq", sa.BigInteger, nullable=False),
    # The projector's cursor: scans up to here are in the records (hub/reconcile/projector.py).
    sa.Column("projected_seq", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("gap_since", Timestamp, nullable=True),
    sa.Column("updated_at", Timestamp, nullable=False),
)

agents = sa.Table(
    "agents",
    metadata,
    sa.Column("agent_id", IdText, primary_key=True),
    sa.Column("incarnation", IdText, nullable=True),
    sa.Column("state", sa.String(16), nullable=True),  # a Literal of the wire
    sa.Column("version", ShortText, nullable=True),
    sa.Column("station", ShortText, nullable=True),
    sa.Column("mode", ShortText, nullable=True),
    sa.Column("last_seen_at", Timestamp, nullable=True),
    sa.Column("status_at", Timestamp, nullable=True),
    sa.Column("backlog", sa.BigInteger, nullable=True),
    sa.Column("oldest_unconfirmed_age_s", sa.Float, nullable=True),
    sa.Column("health", sa.Text, nullable=True),
    sa.Column("health_at", Timestamp, nullable=True),
    # Whether its newest scan was taken with its clock synced (the checks resolve
    # ``clock_unsynced`` by it).
    sa.Column("clock_synced", sa.Boolean, nullable=True),
)

# Ranges of scans that became contiguous, in the order they did (one row per stream per
# ingest transaction): the projector applies them in this order, so across agents the
# records and alerts see the scans in the order the hub confirmed them.
projection_queue = sa.Table(
    "projection_queue",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("agent_id", IdText, nullable=False),
    sa.Column("incarnation", IdText, nullable=False),
    sa.Column("after_seq", sa.BigInteger, nullable=False),
    sa.Column("upto_seq", sa.BigInteger, nullable=False),
)

dead_letters = sa.Table(
    "dead_letters",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("received_at", Timestamp, nullable=False),
    sa.Column("topic", sa.Text, nullable=False),
    sa.Column("agent_id", IdText, nullable=True),
    sa.Column("reason", sa.String(64), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("payload_bytes", sa.Integer, nullable=False),
    # Replayed through the API once its cause was fixed (hub/ingest/replay.py).
    sa.Column("replayed_at", Timestamp, nullable=True),
    sa.Column("replayed_by", sa.String(128), nullable=True),
    sa.Column("replay_result", sa.Text, nullable=True),  # JSON: what the replay stored
)

alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("agent_id", IdText, nullable=True),
    sa.Column("detail", sa.Text, nullable=False),
    # An operator's acknowledgement (POST /api/v1/alerts/{id}/ack): the token's holder.
    sa.Column("acknowledged_at", Timestamp, nullable=True),
    sa.Column("acknowledged_by", sa.String(128), nullable=True),
    sa.Column("ack_note", sa.Text, nullable=True),
    # What it is about (a key or a load's session id), and when and why the hub saw its
    # condition end (hub/store/alerts.py ``resolve``). Open: neither acknowledged nor resolved.
    sa.Column("subject", Code, nullable=True),
    sa.Column("resolved_at", Timestamp, nullable=True),
    sa.Column("resolved_reason", sa.Text, nullable=True),
    # The key of the condition an alert is raised once for (hub/store/alerts.py), unique
    # among open alerts: alert-once lives here, not in a hub's memory.
    sa.Column("condition", sa.String(512), nullable=True),
)
sa.Index(
    "uq_alerts_open_condition",
    alerts.c.condition,
    unique=True,
    sqlite_where=alerts.c.resolved_at.is_(None),
    postgresql_where=alerts.c.resolved_at.is_(None),
)
# Open alerts of one kind, for the hub to resolve when their condition ends.
sa.Index(
    "ix_alerts_open",
    alerts.c.kind,
    alerts.c.agent_id,
    sqlite_where=alerts.c.resolved_at.is_(None),
    postgresql_where=alerts.c.resolved_at.is_(None),
)

# A station's connection history (hub/ingest/fleet.py): online, offline, stopped as its
# status said, and caught_up when the backlog it reported came back to zero.
agent_events = sa.Table(
    "agent_events",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("agent_id", IdText, nullable=False),
    sa.Column("at", Timestamp, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("backlog", sa.BigInteger, nullable=True),
)
sa.Index("ix_agent_events_agent", agent_events.c.agent_id, agent_events.c.id)

# API tokens (hub/access/tokens.py): only the SHA-256 of a token is kept.
api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("expires_at", Timestamp, nullable=True),
    sa.Column("revoked_at", Timestamp, nullable=True),
    # "api": made by `tokens create`; "session": a browser's sign-in (hub/web/signin.py),
    # never listed, ended by signing out, and by revoking the token it signed in with.
    sa.Column("kind", sa.String(8), nullable=False, server_default="api"),
    sa.Column("parent_id", Id, nullable=True),
)

# People who sign in to the dashboard with a password (scantrail-hub users create).
users = sa.Table(
    "users",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("password_argon2", sa.String(256), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("disabled_at", Timestamp),  # set: cannot sign in (0020)
)


# Each hub on this database, as its leadership thread last wrote it (hub/store/roster.py).
hubs = sa.Table(
    "hubs",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    # Its leadership connection's backend: the leader is the hub whose backend holds the
    # leader lock (hub/store/roster.py).
    sa.Column("backend_pid", sa.Integer, nullable=False),
    sa.Column("version", sa.String(32), nullable=False),
    sa.Column("started_at", Timestamp, nullable=False),
    sa.Column("seen_at", Timestamp, nullable=False),
)


# Keys every hub on this database uses alike, e.g. the sign-in form's CSRF key
# (hub/store/secrets.py).
shared_keys = sa.Table(
    "shared_keys",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.LargeBinary, nullable=False),
)
