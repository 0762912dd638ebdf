"""web_signins: sign-in links to the web inbox and the sessions they start

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 23:00:00.000000
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# An expand (new tables, nullable columns, columns with defaults): the release before it keeps working on it.
oldest_compatible = "0006"


def upgrade() -> None:
    op.create_table(
        "web_signins",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("ip", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("how", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("link_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("link_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("link_hash"),
    )
    with op.batch_alter_table("web_signins", schema=None) as batch_op:
        batch_op.create_index("ix_web_signins_address_created", ["address", "created_at"], unique=False)
        batch_op.create_index("ix_web_signins_ip_created", ["ip", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("web_signins", schema=None) as batch_op:
        batch_op.drop_index("ix_web_signins_ip_created")
        batch_op.drop_index("ix_web_signins_address_created")
    op.drop_table("web_signins")
