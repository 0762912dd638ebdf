"""slack_home_tabs: which Slack users' App Home tabs need publishing again, and what was published

Expand-only: a new table; the previous release never reads it.
(Written after 0010, main's head when it was merged; 0011 is another branch's: the merge puts it after that.)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 01:45:00.000000
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# An expand (new tables, nullable columns, columns with defaults): the release before it keeps working on it.
oldest_compatible = "0010"


def upgrade() -> None:
    op.create_table(
        "slack_home_tabs",
        sa.Column("user", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("team", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("version", sa.Integer(), server_default="0", nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("digest", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user"),
    )
    with op.batch_alter_table("slack_home_tabs", schema=None) as batch_op:
        batch_op.create_index("ix_slack_home_tabs_due", ["due_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("slack_home_tabs", schema=None) as batch_op:
        batch_op.drop_index("ix_slack_home_tabs_due")
    op.drop_table("slack_home_tabs")
