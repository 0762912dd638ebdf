"""edits and choices: the edit schema of an approval request, and whether a question takes free text

Expand-only: a nullable column and a column with a default; the previous release never reads them.

Revision ID: 0013
Revises: 0012 (on branch h2; the lead puts 0009 in between at merge)
Create Date: 2026-12-07 02:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# An expand (new tables, nullable columns, columns with defaults): the release before it keeps working on it.
oldest_compatible = "0012"


def upgrade() -> None:
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("edit_schema", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("allow_free_text", sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.drop_column("allow_free_text")
        batch_op.drop_column("edit_schema")
