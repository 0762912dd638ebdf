"""request_timers: the clock of human requests (remind, escalate, expire), fired once across replicas

Expand-only: a new table; the previous release never reads it. The deadlines of standalone requests
still pending (`standalone_requests.expires_at`) become expire timers, so the one clock closes them.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 02:00:00.000000
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# An expand (new tables, nullable columns, columns with defaults): the release before it keeps working on it.
oldest_compatible = "0008"


def upgrade() -> None:
    op.create_table(
        "request_timers",
        sa.Column("request_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("thread_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("escalate_to", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["requests.id"]),
        sa.ForeignKeyConstraint(["thread_id"], ["threads.id"]),
        sa.PrimaryKeyConstraint("request_id", "kind"),
    )
    with op.batch_alter_table("request_timers", schema=None) as batch_op:
        batch_op.create_index("ix_request_timers_due", ["fired_at", "due_at"], unique=False)
    op.execute(
        "INSERT INTO request_timers (request_id, kind, thread_id, due_at, fired_at, outcome, escalate_to, created_at) "
        "SELECT s.request_id, 'expire', s.thread_id, s.expires_at, NULL, '', '[]', s.created_at "
        "FROM standalone_requests s JOIN requests r ON r.id = s.request_id "
        "WHERE s.expires_at IS NOT NULL AND r.status = 'pending'"
    )


def downgrade() -> None:
    with op.batch_alter_table("request_timers", schema=None) as batch_op:
        batch_op.drop_index("ix_request_timers_due")
    op.drop_table("request_timers")
