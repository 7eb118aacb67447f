"""An index to read one code's history from the audit trail.

Revision ID: 0009
Revises: 0008

A database created at this revision already has it: 0002 creates the record tables from
``hub/store/records.py`` as it is now.
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_audit_entity", "audit_log", ["entity_key", "id"], if_not_exists=True)


def downgrade() -> None:
    op.drop_index("ix_audit_entity", table_name="audit_log")
