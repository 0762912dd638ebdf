"""schedules: how far each schedule of the deployment file has fired

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 02:00:00.000000
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# An expand (a new table): the release before it keeps working on it.
oldest_compatible = "0013"


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_due", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_outcome", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("last_thread_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("fired", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("schedules")
