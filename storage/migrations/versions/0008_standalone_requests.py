"""standalone_requests: human requests made through the API with no agent (POST /api/approvals)

Expand-only: a new table; the previous release never reads it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 22:40:00.000000
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# An expand (new tables, nullable columns, columns with defaults): the release before it keeps working on it.
oldest_compatible = "0007"


def upgrade() -> None:
    op.create_table(
        "standalone_requests",
        sa.Column("request_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("thread_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("creator", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("idempotency_key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("callback_url", sa.Text(), nullable=True),
        sa.Column("callback_secret", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("external", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["requests.id"]),
        sa.ForeignKeyConstraint(["thread_id"], ["threads.id"]),
        sa.PrimaryKeyConstraint("request_id"),
        sa.UniqueConstraint("creator", "idempotency_key", name="uq_standalone_idempotency"),
    )
    with op.batch_alter_table("standalone_requests", schema=None) as batch_op:
        batch_op.create_index("ix_standalone_expires", ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("standalone_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_standalone_expires")
    op.drop_table("standalone_requests")
