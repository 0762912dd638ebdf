"""audit_chain: the audit's tamper-evident chain (storage/audit_chain.py), with every audited event
recorded so far chained in the order it was appended.

Expand-only: a new table. The previous release neither reads nor appends to it; a record it appends
while this one runs beside it has no chain row, which `signoff audit verify` reports.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 02:00:00.000000
"""

import hashlib
import json
from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# An expand (new tables, nullable columns, columns with defaults): the release before it keeps working on it.
oldest_compatible = "0008"

GENESIS = "0" * 64
BATCH = 2_000


def upgrade() -> None:
    op.create_table(
        "audit_chain",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("thread_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("prev_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("thread_id", "seq", name="uq_audit_chain_event"),
    )
    _chain_what_is_there()


def _chain_what_is_there() -> None:
    """Chain the audited events already recorded, oldest first (a frozen copy of the app's rules:
    storage/audit_chain.py `is_audited` and `canonical`, as they were at this revision)."""
    bind = op.get_bind()
    events = sa.table(
        "events",
        sa.column("id", sa.Integer()),
        sa.column("thread_id", sa.String()),
        sa.column("seq", sa.Integer()),
        sa.column("data", sa.Text()),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    chain = sa.table(
        "audit_chain",
        sa.column("thread_id", sa.String()),
        sa.column("seq", sa.Integer()),
        sa.column("prev_hash", sa.String()),
        sa.column("hash", sa.String()),
    )
    head, after = GENESIS, 0
    while True:
        rows = bind.execute(
            sa.select(events.c.id, events.c.thread_id, events.c.seq, events.c.data, events.c.created_at)
            .where(events.c.id > after, events.c.data.like('%"request_id":%') | events.c.data.like('%"rule":"_%'))
            .order_by(events.c.id)
            .limit(BATCH)
        ).all()
        chained = []
        for row in rows:
            data = json.loads(row.data)
            if not (data.get("request_id") or (data.get("type") == "tool_call" and data.get("rule"))):
                continue
            digest = _hash(row.thread_id, row.seq, row.created_at, row.data, head)
            chained.append({"thread_id": row.thread_id, "seq": row.seq, "prev_hash": head, "hash": digest})
            head = digest
        if chained:
            bind.execute(sa.insert(chain), chained)
        if len(rows) < BATCH:
            return
        after = rows[-1].id


def _hash(thread_id: str, seq: int, at: datetime, data: str, prev_hash: str) -> str:
    moment = (at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)).isoformat(timespec="microseconds")
    fields = {"at": moment, "data": data, "prev_hash": prev_hash, "seq": seq, "thread_id": thread_id}
    return hashlib.sha256(
        json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    ).hexdigest()


def downgrade() -> None:
    op.drop_table("audit_chain")
