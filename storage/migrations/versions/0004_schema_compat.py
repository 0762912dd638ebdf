"""schema_compat: which releases may still run on this schema (expand-then-contract upgrades)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 22:40:00.000000
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# An expand: a new table the 0003 release never reads, so its replicas keep working on this schema.
oldest_compatible = "0003"


def upgrade() -> None:
    op.create_table(
        "schema_compat",
        sa.Column("oldest_compatible", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.PrimaryKeyConstraint("oldest_compatible"),
    )


def downgrade() -> None:
    op.drop_table("schema_compat")
