"""people, their identities and API tokens; requests carry their policy (N of M, self-approval, rule)

Expand-only: new tables, and new request columns that are nullable or have defaults, so the
previous release keeps working on this schema.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 22:50:00.000000
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "people",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("slack_ids", sa.JSON(), nullable=False),
        sa.Column("emails", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "person_identities",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
        sa.Column("person_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"]),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("person_identities", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_person_identities_person_id"), ["person_id"], unique=False)
    op.create_table(
        "api_tokens",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("person_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("label", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("hash"),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_person_id"), ["person_id"], unique=False)
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("required", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("approvals", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("no_self_approval", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("rule", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.drop_column("rule")
        batch_op.drop_column("no_self_approval")
        batch_op.drop_column("approvals")
        batch_op.drop_column("required")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_person_id"))
    op.drop_table("api_tokens")
    with op.batch_alter_table("person_identities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_person_identities_person_id"))
    op.drop_table("person_identities")
    op.drop_table("people")
