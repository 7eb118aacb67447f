"""Several hubs on one PostgreSQL: who they are, the keys they share, and a wake-up for
their live streams.

- ``hubs``: each hub's row, written by its leadership thread every tick
  (hub/cluster/leadership.py): its name, its leadership connection's backend pid (the
  leader is the one whose backend holds the leader lock), when it started and when it was
  last seen. The fleet page and ``/api/v1/status`` read it (hub/store/roster.py).
- ``shared_keys``: keys every hub uses alike, such as the sign-in form's CSRF key, so a
  form loaded from one hub may be posted to another (hub/store/secrets.py).
- On PostgreSQL, a statement trigger on each table the live streams read sends
  ``NOTIFY scantrail_feed`` when it changes, so every hub's stream poller wakes on a change
  whichever hub made it, and no hub polls an idle database (hub/web/feed.py). PostgreSQL
  folds the notifications of one transaction into one.

Revision ID: 0021
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

FEED_TABLES = ("audit_log", "alerts", "agents", "agent_streams", "dead_letters")


def upgrade() -> None:
    op.create_table(
        "hubs",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("backend_pid", sa.Integer, nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "shared_keys",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.LargeBinary, nullable=False),
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE FUNCTION scantrail_feed_notify() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN PERFORM pg_notify('scantrail_feed', ''); RETURN NULL; END $$"
    )
    for table in FEED_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_feed_notify AFTER INSERT OR UPDATE OR DELETE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION scantrail_feed_notify()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in FEED_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_feed_notify ON {table}")
        op.execute("DROP FUNCTION IF EXISTS scantrail_feed_notify()")
    op.drop_table("shared_keys")
    op.drop_table("hubs")
