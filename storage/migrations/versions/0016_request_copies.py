"""request copies: the places a request is delivered to besides its thread (agent/places.py); the
grant given with a request's approval found by its request (shown on the decided card)

Expand-only: a nullable column and an index; the previous release never reads them.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 05:40:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

# An expand (a nullable column, an index): the release before it keeps working on it.
oldest_compatible = "0015"


def upgrade() -> None:
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("copies", sa.JSON(), nullable=True))
    op.create_index("ix_grants_request", "grants", ["request_id"])


def downgrade() -> None:
    op.drop_index("ix_grants_request", table_name="grants")
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.drop_column("copies")
