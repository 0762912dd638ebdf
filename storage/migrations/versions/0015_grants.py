"""grants: standing grants given with an approval (agent/grants.py)

Expand-only: a new table; the previous release never reads it.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 02:10:00.000000
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# An expand (a new table): the release before it keeps working on it.
oldest_compatible = "0014"


def upgrade() -> None:
    op.create_table(
        "grants",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("agent", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("tool", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("scope", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("thread_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("digest", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("match", sa.JSON(), nullable=False),
        sa.Column("request_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("given_by", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("given_by_voter", sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
        sa.Column("identities", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
        sa.Column("uses", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.create_index("ix_grants_tool_expires", ["agent", "tool", "expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.drop_index("ix_grants_tool_expires")
    op.drop_table("grants")
