"""request copies: the places a request is delivered to besides its thread (agent/places.py)

Expand-only: a nullable column; the previous release never reads it.

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

# An expand (a nullable column): the release before it keeps working on it.
oldest_compatible = "0015"


def upgrade() -> None:
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("copies", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.drop_column("copies")
