"""The intake: messages that open a conversation, acknowledged after one INSERT.

A Slack mention outside a thread must be durable before Slack gets its 200, and need be nothing
more: `record` is one `INSERT ... ON CONFLICT DO NOTHING` (a statement built once, so compiled
once) on a plain connection. `build` turns the queued rows into threads after the ack, many at a
time, in one transaction that records each one's receipt (`storage.receipts`), inserts the threads and
their first events, and deletes the rows it built. So a row here is a delivery acknowledged but not
yet a thread, and whoever builds next (this process right after the ack, or the next start after a
crash) builds it, once: a key already received (a Slack retry that came after the build) is
dropped, and a row is claimed by one builder at a time (PostgreSQL: `FOR UPDATE SKIP LOCKED`;
SQLite: one writer).

On SQLite the rows are written to a file of their own beside the database (`signoff.db-intake`,
the journal), so that an ack never waits for SQLite's one write lock while a worker holds it to
append a step or build a batch of threads: measured at 200 mentions/s with a backlog being worked,
that wait was nearly all of the ack's p99. `build` then reads the journal inside the main file's
write transaction and deletes what it built from the journal once that transaction has committed;
a crash in between leaves rows whose receipts are recorded, which the next build drops as
duplicates. Rows in the main file's own table (PostgreSQL, or left by a release before the
journal) are built as before, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, bindparam, delete, func, insert, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.schema import CreateIndex, CreateTable

from agent import thread as t
from agent.events import HumanMessage
from storage._sql import event_values, table
from storage.db import Database
from storage.models import EventRow, IntakeRow, ReceiptRow, ThreadRow, utcnow
from storage.threads import new_thread_id


@dataclass(frozen=True)
class Queued:
    """A recorded message that opens a conversation, as `build` found it."""

    key: str
    origin_channel: str
    origin_key: str
    origin_data: dict[str, Any]
    text: str
    by: str


@dataclass(frozen=True)
class Built:
    threads: list[tuple[str, Queued]] = field(default_factory=list)  # (new thread id, what started it)
    duplicates: int = 0  # rows whose key was already received: a retry after the build, dropped
    # Rows whose conversation already has a thread (it was started another way in between): the
    # caller appends each to that thread (`receive_message`), then `forget`s it.
    leftovers: list[Queued] = field(default_factory=list)


class IntakeQueue:
    def __init__(self, db: Database) -> None:
        self.db = db
        inbound, inbox = table(IntakeRow), table(ReceiptRow)
        dialect_insert = sqlite_insert if db.is_sqlite else postgresql_insert
        self._inbound, self._inbox = inbound, inbox
        self._threads, self._events = table(ThreadRow), table(EventRow)
        # Built once: SQLAlchemy compiles each on first use and finds it in its cache afterwards.
        self._record = dialect_insert(inbound).on_conflict_do_nothing(index_elements=["key"])
        self._record_keys = dialect_insert(inbox).on_conflict_do_nothing(index_elements=["key"]).returning(inbox.c.key)
        self._waiting = select(inbound.c.key).where(
            inbound.c.origin_channel == bindparam("channel"), inbound.c.origin_key == bindparam("key")
        )
        self.journal = db.beside("intake") if db.is_sqlite else None
        if self.journal is not None:
            _create(self.journal, inbound)
        self._recorder = self.journal or db

    def record(
        self, *, key: str, origin_channel: str, origin_key: str, origin_data: dict[str, Any], text: str, by: str
    ) -> None:
        """Durably record a message that opens a conversation (nothing when `key` is queued already)."""
        values = {
            "key": key,
            "origin_channel": origin_channel,
            "origin_key": origin_key,
            "origin_data": origin_data,
            "text": text,
            "by": by,
            "received_at": utcnow(),
        }
        with self._recorder.write_connection() as connection:
            connection.execute(self._record, values)

    def waiting(self, origin_channel: str, origin_key: str) -> bool:
        """Whether a message opening this conversation is queued (its thread not built yet)."""
        params = {"channel": origin_channel, "key": origin_key}
        for db in self._places():
            with db.engine.connect() as connection:
                if connection.execute(self._waiting, params).first() is not None:
                    return True
        return False

    def _places(self) -> list[Database]:
        return [self.db] if self.journal is None else [self.db, self.journal]

    def build(
        self, agent: str | Callable[[Queued], str], *, limit: int = 64, on_claimed: Callable[[], None] | None = None
    ) -> Built:
        """Turn up to `limit` queued rows, oldest first, into threads of `agent` (a name, or a function
        of the row that routes it to one): one transaction.

        `on_claimed` runs once rows are claimed, before anything is written (a crash point for tests).
        """
        inbound = self._inbound
        journaled: list[str] = []
        with self.db.write_connection() as connection:
            claim = select(inbound).order_by(inbound.c.received_at).limit(limit)
            rows = [_queued(r) for r in connection.execute(claim.with_for_update(skip_locked=True)).mappings()]
            if self.journal is not None and len(rows) < limit:
                with self.journal.engine.connect() as journal:
                    more = [_queued(r) for r in journal.execute(claim.limit(limit - len(rows))).mappings()]
                journaled = [r.key for r in more]
                rows += more
            if not rows:
                return Built()
            if on_claimed is not None:
                on_claimed()
            inbox = self._inbox
            seen = set(connection.execute(select(inbox.c.key).where(inbox.c.key.in_([r.key for r in rows]))).scalars())
            started = {
                (r.origin_channel, r.origin_key)
                for r in connection.execute(
                    select(self._threads.c.origin_channel, self._threads.c.origin_key).where(
                        self._threads.c.origin_key.in_([r.origin_key for r in rows])
                    )
                )
            }
            fresh: dict[str, tuple[str, Queued]] = {}
            leftovers: list[Queued] = []
            for row in rows:
                origin = (row.origin_channel, row.origin_key)
                if row.key in seen:
                    continue
                if origin in started:
                    leftovers.append(row)
                else:
                    started.add(origin)
                    fresh[row.key] = (new_thread_id(), row)
            now = utcnow()
            recorded: set[str] = set()
            if fresh:
                params = [{"key": k, "thread_id": tid, "received_at": now} for k, (tid, _) in fresh.items()]
                recorded = set(connection.execute(self._record_keys, params).scalars())
            built = [fresh[k] for k in fresh if k in recorded]
            if built:
                route = agent if callable(agent) else (lambda _row: agent)
                values = [_thread_values(route(row), tid, row, now) for tid, row in built]
                connection.execute(insert(self._threads), values)
                connection.execute(
                    insert(self._events),
                    [event_values(tid, 1, _first_event(row), now) for tid, row in built],
                )
            done = [r.key for r in rows if r not in leftovers]
            if done:
                self._delete(connection, done)
        if self.journal is not None and journaled:
            self._forget_journaled(set(journaled) & set(done))
        return Built(built, len(rows) - len(built) - len(leftovers), leftovers)

    def forget(self, keys: Sequence[str]) -> None:
        """Drop queued rows handled another way (leftovers, once appended)."""
        if keys:
            with self.db.write_connection() as connection:
                self._delete(connection, list(keys))
            if self.journal is not None:
                self._forget_journaled(set(keys))

    def _delete(self, connection: Connection, keys: list[str]) -> None:
        connection.execute(delete(self._inbound).where(self._inbound.c.key.in_(keys)))

    def _forget_journaled(self, keys: set[str]) -> None:
        assert self.journal is not None
        if keys:
            with self.journal.write_connection() as connection:
                self._delete(connection, sorted(keys))
            self.journal.checkpoint()  # here, not in an ack's commit (Database.beside)

    def count(self) -> int:
        total = 0
        for db in self._places():
            with db.engine.connect() as connection:
                total += int(connection.execute(select(func.count()).select_from(self._inbound)).scalar_one())
        return total


def _create(journal: Database, table: Table) -> None:
    """The journal's table and index, as in the main file (made by whoever opens it first)."""
    with journal.write_connection() as connection:
        connection.execute(CreateTable(table, if_not_exists=True))
        for index in table.indexes:
            connection.execute(CreateIndex(index, if_not_exists=True))


def _queued(row: Any) -> Queued:
    return Queued(
        key=row["key"],
        origin_channel=row["origin_channel"],
        origin_key=row["origin_key"],
        origin_data=dict(row["origin_data"] or {}),
        text=row["text"],
        by=row["by"],
    )


def _first_event(row: Queued) -> HumanMessage:
    return HumanMessage(text=row.text, by=row.by, channel=row.origin_channel)


def _thread_values(agent: str, thread_id: str, row: Queued, now: Any) -> dict[str, Any]:
    thread = ThreadRow(
        id=thread_id,
        agent=agent,
        status=t.status_from(has_pending=False, last=_first_event(row)),
        origin_channel=row.origin_channel,
        origin_key=row.origin_key,
        origin_data=row.origin_data,
        requested_by=row.by,
        last_seq=1,
        created_at=now,
        updated_at=now,
    )
    return thread.model_dump()
