"""The audit's tamper-evident chain: every audited event's record carries the SHA-256 of the record
before it, so that changing, removing or inserting a record with SQL breaks the chain where it happened.

A record is an audited event as stored: its thread, its sequence number, its time, and the event's
JSON text exactly as written, plus the previous record's hash ("0" * 64 for the first). Its hash is the
SHA-256 of its canonical form (`canonical`). One chain per deployment (per database), appended in the
transaction that appends the events (storage/event_log.py). On PostgreSQL, appends take a
transaction-scoped advisory lock, so that replicas appending at once never fork the chain; SQLite has
one writer at a time already.

`verify_records` recomputes a chain from its records, from the database (`AuditChain.verify_chain`)
or from an export (`signoff audit export`, JSON Lines), and names the first record that does not match.
Truncating the newest records cannot be seen from the records alone: keep the head hash that
`signoff audit verify` prints somewhere the operator cannot write, and compare (`--head`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, insert
from sqlalchemy import select as core_select
from sqlmodel import Session

from agent.events import Event, HumanMessage, ToolCall, parse_event
from storage._sql import table
from storage.audit import audited_condition
from storage.db import Database
from storage.models import AuditChainRow, EventRow

GENESIS = "0" * 64
# pg_advisory_xact_lock key for appends to the chain ("SGNAUDIT" as a number; any constant would do,
# as long as nothing else in the database uses it).
CHAIN_LOCK = 0x53474E4155444954
BATCH = 2_000


def is_audited(event: Event) -> bool:
    """Whether an event belongs to the audit: anything about a human request (it carries a
    `request_id`), a gated call that a policy let run without asking (a `tool_call` with a `rule`), and
    a message a trigger sent (a schedule's firing, a webhook's delivery: a `human_message` with a `trigger`).
    `storage.audit.audited_condition` is the same test in SQL, loosened (a superset)."""
    return (
        bool(getattr(event, "request_id", None))
        or (isinstance(event, ToolCall) and bool(event.rule))
        or (isinstance(event, HumanMessage) and bool(event.trigger))
    )


def canonical(thread_id: str, seq: int, at: datetime, data: str, prev_hash: str) -> bytes:
    """A record's canonical form: what its hash covers."""
    moment = (at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)).isoformat(timespec="microseconds")
    fields = {"at": moment, "data": data, "prev_hash": prev_hash, "seq": seq, "thread_id": thread_id}
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def record_hash(thread_id: str, seq: int, at: datetime, data: str, prev_hash: str) -> str:
    return hashlib.sha256(canonical(thread_id, seq, at, data, prev_hash)).hexdigest()


def append_to_chain(session: Session, thread_id: str, stored: Sequence[tuple[int, Event, str, datetime]]) -> None:
    """Chain the audited ones among events just appended to a thread, as (seq, event, JSON text, time)."""
    audited = [(seq, data, at) for seq, event, data, at in stored if is_audited(event)]
    if not audited:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.connection().exec_driver_sql(f"SELECT pg_advisory_xact_lock({CHAIN_LOCK})")
    chain = table(AuditChainRow).c
    head = session.execute(core_select(chain.hash).order_by(chain.id.desc()).limit(1)).scalar() or GENESIS
    rows = []
    for seq, data, at in audited:
        digest = record_hash(thread_id, seq, at, data, head)
        rows.append({"thread_id": thread_id, "seq": seq, "prev_hash": head, "hash": digest})
        head = digest
    session.execute(insert(table(AuditChainRow)), rows)


@dataclass(frozen=True)
class ChainRecord:
    """One record as verified: from the database (the chain row and its event) or from an export."""

    position: int  # 1 for the first record
    thread_id: str
    seq: int
    at: datetime | None  # None: the event is gone
    data: str | None
    prev_hash: str
    hash: str

    def export(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "thread_id": self.thread_id,
            "seq": self.seq,
            "at": self.at.astimezone(UTC).isoformat(timespec="microseconds") if self.at else None,
            "data": self.data,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }

    @classmethod
    def from_export(cls, line: str) -> ChainRecord:
        fields = json.loads(line)
        at = fields.get("at")
        return cls(
            position=int(fields["position"]),
            thread_id=str(fields["thread_id"]),
            seq=int(fields["seq"]),
            at=datetime.fromisoformat(at) if at else None,
            data=fields.get("data"),
            prev_hash=str(fields["prev_hash"]),
            hash=str(fields["hash"]),
        )


@dataclass(frozen=True)
class Verdict:
    """What `verify_records` found: how many records held, the head hash, or the first that did not."""

    records: int
    head: str
    broken_at: ChainRecord | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_at is None and not self.reason


def verify_records(records: Iterable[ChainRecord]) -> Verdict:
    """Recompute the chain in order; stop at the first record whose event, hash or link is wrong."""
    head, count = GENESIS, 0
    for record in records:
        where = f"record {record.position} (thread {record.thread_id}, event {record.seq})"
        if record.data is None or record.at is None:
            return Verdict(count, head, record, f"{where}: its event is gone from the events table")
        if record.prev_hash != head:
            return Verdict(
                count,
                head,
                record,
                f"{where}: it does not follow the record before it (one was removed or inserted)",
            )
        if record_hash(record.thread_id, record.seq, record.at, record.data, record.prev_hash) != record.hash:
            return Verdict(count, head, record, f"{where}: its event or its hash was changed after it was recorded")
        if not is_audited(parse_event(record.data)):
            return Verdict(count, head, record, f"{where}: its event was changed into one the audit does not hold")
        head, count = record.hash, count + 1
    return Verdict(count, head)


class AuditChain:
    db: Database

    def chain_records(self) -> Iterator[ChainRecord]:
        """Every chain record with its event (if still there), in chain order, read in batches."""
        chain, events = table(AuditChainRow).c, table(EventRow).c
        after, position = 0, 0
        while True:
            query = (
                core_select(
                    chain.id, chain.thread_id, chain.seq, chain.prev_hash, chain.hash, events.data, events.created_at
                )
                .select_from(
                    table(AuditChainRow).outerjoin(
                        table(EventRow), and_(events.thread_id == chain.thread_id, events.seq == chain.seq)
                    )
                )
                .where(chain.id > after)
                .order_by(chain.id)
                .limit(BATCH)
            )
            with self.db.session() as session:
                rows = session.execute(query).all()
            for row in rows:
                position += 1
                yield ChainRecord(position, row.thread_id, row.seq, row.created_at, row.data, row.prev_hash, row.hash)
            if len(rows) < BATCH:
                return
            after = rows[-1].id

    def unchained_events(self, limit: int = 10) -> list[tuple[str, int]]:
        """Audited events with no chain record: inserted behind the chain's back (with SQL)."""
        chain, events = table(AuditChainRow).c, table(EventRow).c
        query = (
            core_select(events.thread_id, events.seq, events.data)
            .select_from(
                table(EventRow).outerjoin(
                    table(AuditChainRow), and_(events.thread_id == chain.thread_id, events.seq == chain.seq)
                )
            )
            .where(chain.id.is_(None), audited_condition(events))
            .order_by(events.id)
        )
        found: list[tuple[str, int]] = []
        with self.db.session() as session:
            for row in session.execute(query):
                if is_audited(parse_event(row.data)):
                    found.append((row.thread_id, row.seq))
                    if len(found) >= limit:
                        break
        return found

    def verify_chain(self) -> Verdict:
        verdict = verify_records(self.chain_records())
        if not verdict.ok:
            return verdict
        missing = self.unchained_events(limit=1)
        if missing:
            thread_id, seq = missing[0]
            return Verdict(
                verdict.records,
                verdict.head,
                reason=f"thread {thread_id}, event {seq}: an audited event with no chain record (inserted with SQL?)",
            )
        return verdict
