"""index runnable threads in the order the workers take them

The workers look for running threads without a live lease, oldest update first. With only the
(status, lease_until) index that meant reading and sorting every running thread on each poll: a
backlog of 100,000 made every look slow. With (status, updated_at) the database walks the
runnable threads in order and stops at the limit.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 23:10:00.000000
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.create_index("ix_threads_status_updated", ["status", "updated_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.drop_index("ix_threads_status_updated")
