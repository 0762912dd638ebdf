"""requests: an index on (thread_id, status), for the pending-request count at every append.

Without statistics SQLite chose `ix_requests_status_created` for `thread_id = ? AND status =
'pending'` and read every pending request in the database to count one thread's: a resume took
500 ms among 1,000,000 waiting threads instead of 25 ms (bench/waiting_scale.py).

Expand-only: a new index.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 02:20:00.000000
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# An expand (new tables, nullable columns, columns with defaults): the release before it keeps working on it.
oldest_compatible = "0009"


def upgrade() -> None:
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.create_index("ix_requests_thread_status", ["thread_id", "status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.drop_index("ix_requests_thread_status")
