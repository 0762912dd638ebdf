"""Threads and their events: start one, append to it, read it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert
from sqlmodel import col, select

from agent import thread as t
from agent.events import Event, HumanMessage
from storage._sql import (
    StoredEvent,
    event_values,
    events_after,
    insert_receipt,
    stored_events,
    table,
    thread_row,
)
from storage.db import Database
from storage.errors import Conflict
from storage.event_log import OutboxDraft, append_events
from storage.models import EventRow, ThreadRow, utcnow
from storage.status import WEBHOOK_AGENT


@dataclass(frozen=True)
class ThreadSnapshot:
    thread: ThreadRow
    events: list[Event]


def new_thread_id() -> str:
    return uuid.uuid4().hex


class Threads:
    db: Database

    def create_thread(
        self,
        *,
        agent: str,
        first: Event,
        requested_by: str,
        origin_channel: str = "api",
        origin_key: str | None = None,
        origin_data: dict[str, Any] | None = None,
        receipt_key: str | None = None,
        outbox: Sequence[OutboxDraft] = (),
    ) -> ThreadRow | None:
        """A new thread with its first event; None when the delivery key was already recorded."""
        with self.db.write() as session:
            now = utcnow()
            row = ThreadRow(
                id=new_thread_id(),
                agent=agent,
                origin_channel=origin_channel,
                origin_key=origin_key,
                origin_data=origin_data or {},
                requested_by=requested_by,
                created_at=now,
                updated_at=now,
            )
            if receipt_key is not None and not insert_receipt(session, receipt_key, row.id):
                return None
            if isinstance(first, HumanMessage) and not first.trigger and not outbox and agent != WEBHOOK_AGENT:
                # How every thread starts (a person's message): two plain INSERTs. This runs before
                # a Slack ack, where the ORM's unit of work cost several times the database's time.
                # (A trigger's message is audited: it goes the way that chains it.)
                row.last_seq = 1
                row.status = t.status_from(has_pending=False, last=first)
                session.execute(insert(table(ThreadRow)).values(**row.model_dump()))
                session.execute(insert(table(EventRow)).values(**event_values(row.id, 1, first, now)))
                return row
            session.add(row)
            session.flush()
            append_events(session, row, [first], outbox)
            return row

    def append(
        self,
        thread_id: str,
        events: Sequence[Event],
        *,
        outbox: Sequence[OutboxDraft] = (),
        expect_seq: int | None = None,
        lease_owner: str | None = None,
        receipt_key: str | None = None,
    ) -> ThreadRow | None:
        """Append events to a thread.

        `expect_seq` makes the append conditional on nobody having appended since (Conflict
        otherwise); `lease_owner` on still holding the thread's lease. Returns None when the
        delivery key was already recorded (nothing written).
        """
        with self.db.write() as session:
            if receipt_key is not None and not insert_receipt(session, receipt_key, thread_id):
                return None
            row = thread_row(session, thread_id, for_update=True)
            if expect_seq is not None and row.last_seq != expect_seq:
                raise Conflict(f"thread {thread_id} moved from seq {expect_seq} to {row.last_seq}")
            if lease_owner is not None and row.lease_owner != lease_owner:
                raise Conflict(f"thread {thread_id}: lease lost to {row.lease_owner}")
            append_events(session, row, events, outbox)
            return row

    def get_thread(self, thread_id: str) -> ThreadRow | None:
        with self.db.session() as session:
            return session.get(ThreadRow, thread_id)

    def thread_statuses(self, thread_ids: Sequence[str]) -> dict[str, str]:
        """The status of each of these threads that exists."""
        if not thread_ids:
            return {}
        with self.db.session() as session:
            rows = session.exec(select(ThreadRow.id, ThreadRow.status).where(col(ThreadRow.id).in_(thread_ids)))
            return {thread_id: status for thread_id, status in rows}

    def thread_versions(self, thread_ids: Sequence[str]) -> dict[str, str]:
        """`status:last_seq` of each of these threads that exists: it changes with every event."""
        if not thread_ids:
            return {}
        with self.db.session() as session:
            rows = session.exec(
                select(ThreadRow.id, ThreadRow.status, ThreadRow.last_seq).where(col(ThreadRow.id).in_(thread_ids))
            )
            return {thread_id: f"{status}:{seq}" for thread_id, status, seq in rows}

    def waiting_version(self) -> str:
        """A stamp of the threads that wait on people: it changes when one starts or stops waiting, or
        records an event while it waits (a request asked, decided, reminded, escalated, progressed).
        Read from the (status, updated_at) index, whatever the number of threads."""
        with self.db.session() as session:
            count, newest = session.exec(
                select(func.count(), func.max(ThreadRow.updated_at)).where(ThreadRow.status == "waiting")
            ).one()
            return f"{count}:{newest.isoformat() if newest is not None else '-'}"

    def thread_by_origin(self, channel: str, key: str) -> ThreadRow | None:
        with self.db.session() as session:
            return session.exec(
                select(ThreadRow).where(ThreadRow.origin_channel == channel, ThreadRow.origin_key == key)
            ).first()

    def snapshot(self, thread_id: str) -> ThreadSnapshot:
        with self.db.session() as session:
            return ThreadSnapshot(thread_row(session, thread_id), events_after(session, thread_id))

    def events_since(self, thread_id: str, seq: int) -> list[Event]:
        """The thread's events after sequence number `seq`, in order."""
        with self.db.session() as session:
            return events_after(session, thread_id, after_seq=seq)

    def stored_events(self, thread_id: str) -> list[StoredEvent]:
        with self.db.session() as session:
            return stored_events(session, thread_id)

    def list_threads(self, *, status: str | None = None, limit: int = 100) -> list[ThreadRow]:
        with self.db.session() as session:
            query = select(ThreadRow).order_by(col(ThreadRow.updated_at).desc()).limit(limit)
            if status:
                query = query.where(ThreadRow.status == status)
            return list(session.exec(query))

    def status_counts(self) -> dict[str, int]:
        """How many threads are in each status."""
        with self.db.session() as session:
            rows = session.exec(select(ThreadRow.status, func.count()).group_by(ThreadRow.status)).all()
            return {status: count for status, count in rows}
