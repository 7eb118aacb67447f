"""The replayed dead letters by index: every live stream client counts them on each poll
(hub/store/queries.py ``dead_letter_state``); a partial index holds only those, so the
count does not read every letter a flood of bad messages left.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

REPLAYED = sa.text("replayed_at IS NOT NULL")


def upgrade() -> None:
    op.create_index(
        "ix_dead_letters_replayed",
        "dead_letters",
        ["replayed_at"],
        sqlite_where=REPLAYED,
        postgresql_where=REPLAYED,
    )


def downgrade() -> None:
    op.drop_index("ix_dead_letters_replayed", table_name="dead_letters")
