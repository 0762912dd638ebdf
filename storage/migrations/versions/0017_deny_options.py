"""deny options: an approval's named ways to deny (HumanLayer's `reject_options`), and the one a
denial took

Expand-only: two nullable columns; the previous release never reads them.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 09:15:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

# An expand (nullable columns): the release before it keeps working on it.
oldest_compatible = "0016"


def upgrade() -> None:
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deny_options", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("deny_option", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.drop_column("deny_option")
        batch_op.drop_column("deny_options")
