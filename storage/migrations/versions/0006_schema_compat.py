"""schema_compat: which releases may still run on this schema (expand-then-contract upgrades)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 22:40:00.000000
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# An expand: a new table the releases before it never read, so their replicas keep working on it.
oldest_compatible = "0005"


def upgrade() -> None:
    op.create_table(
        "schema_compat",
        sa.Column("oldest_compatible", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.PrimaryKeyConstraint("oldest_compatible"),
    )


def downgrade() -> None:
    op.drop_table("schema_compat")
