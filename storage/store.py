"""Reading and writing threads, their events, human requests, the inbox and the outbox.

Every method is one transaction. Appending events also maintains the tables derived from them
(the thread's status, the human requests) and writes the outbox rows they cause, atomically.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Table, exists, func, insert, or_, update
from sqlalchemy import select as core_select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, SQLModel, col, select

from agent import thread as t
from agent.events import (
    ApprovalDecided,
    ApprovalRequested,
    Event,
    HumanMessage,
    QuestionAnswered,
    QuestionAsked,
    dump_event,
    parse_event,
)
from storage.db import Database
from storage.errors import Conflict, NotFound
from storage.models import EventRow, InboxRow, MailboxStateRow, OutboxRow, RequestRow, ThreadRow, utcnow

M = TypeVar("M", bound=SQLModel)


@dataclass(frozen=True)
class OutboxDraft:
    channel: str
    kind: str
    request_id: str | None = None
    text: str = ""


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    event: Event
    created_at: datetime


@dataclass(frozen=True)
class ThreadSnapshot:
    thread: ThreadRow
    events: list[Event]


@dataclass(frozen=True)
class DecisionResult:
    status: str  # accepted | not_allowed | already_decided | unknown | invalid | duplicate | changed
    request: RequestRow | None = None
    thread: ThreadRow | None = None
    events: list[Event] = field(default_factory=list)


def new_thread_id() -> str:
    return uuid.uuid4().hex


def worker_identity() -> str:
    """host:pid:random, so a restarted process on the same host can tell its dead leases."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Store:
    def __init__(self, db: Database) -> None:
        self.db = db

    # --- threads and events -------------------------------------------------------------

    def create_thread(
        self,
        *,
        agent: str,
        first: Event,
        requested_by: str,
        origin_channel: str = "api",
        origin_key: str | None = None,
        origin_data: dict[str, Any] | None = None,
        delivery_key: str | None = None,
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
            if delivery_key is not None and not _record_delivery(session, delivery_key, row.id):
                return None
            if isinstance(first, HumanMessage) and not outbox:
                # How every thread starts (a person's message): two plain INSERTs. This runs before
                # a Slack ack, where the ORM's unit of work cost several times the database's time.
                row.last_seq = 1
                row.status = t.status_from(has_pending=False, last=first)
                session.execute(insert(_table(ThreadRow)).values(**row.model_dump()))
                session.execute(insert(_table(EventRow)).values(**_event_values(row.id, 1, first, now)))
                return row
            session.add(row)
            session.flush()
            self._append(session, row, [first], outbox)
            return row

    def append(
        self,
        thread_id: str,
        events: Sequence[Event],
        *,
        outbox: Sequence[OutboxDraft] = (),
        expect_seq: int | None = None,
        lease_owner: str | None = None,
        delivery_key: str | None = None,
    ) -> ThreadRow | None:
        """Append events to a thread.

        `expect_seq` makes the append conditional on nobody having appended since (Conflict
        otherwise); `lease_owner` on still holding the thread's lease. Returns None when the
        delivery key was already recorded (nothing written).
        """
        with self.db.write() as session:
            if delivery_key is not None and not _record_delivery(session, delivery_key, thread_id):
                return None
            row = self._thread_for_update(session, thread_id)
            if expect_seq is not None and row.last_seq != expect_seq:
                raise Conflict(f"thread {thread_id} moved from seq {expect_seq} to {row.last_seq}")
            if lease_owner is not None and row.lease_owner != lease_owner:
                raise Conflict(f"thread {thread_id}: lease lost to {row.lease_owner}")
            self._append(session, row, events, outbox)
            return row

    def _thread_for_update(self, session: Session, thread_id: str) -> ThreadRow:
        return _thread_row(session, thread_id, for_update=True)

    def _append(self, session: Session, row: ThreadRow, events: Sequence[Event], outbox: Sequence[OutboxDraft]) -> None:
        # Plain statements on the tables, not the ORM's unit of work: this runs at every step of
        # every thread, and the ORM's bookkeeping cost more CPU than the database's work.
        now = utcnow()
        seq = row.last_seq
        values = []
        for event in events:
            seq += 1
            values.append(_event_values(row.id, seq, event, now))
            self._index_request(session, row, event, now)
        if values:
            session.execute(insert(_table(EventRow)), values)
        changes: dict[str, Any] = {"last_seq": seq, "updated_at": now}
        last = t.last_agent_event(events)
        if last is not None:  # notes alone (a failed delivery) leave the status as it is
            requests = _table(RequestRow).c
            pending = core_select(func.count()).where(requests.thread_id == row.id, requests.status == "pending")
            changes["status"] = t.status_from(has_pending=session.execute(pending).scalar_one() > 0, last=last)
        threads = _table(ThreadRow)
        session.execute(update(threads).where(threads.c.id == row.id).values(**changes))
        for key, value in changes.items():  # written above: the row (possibly the session's) says so
            set_committed_value(row, key, value)
        if outbox:
            session.execute(
                insert(_table(OutboxRow)),
                [
                    OutboxRow(
                        thread_id=row.id,
                        channel=draft.channel,
                        kind=draft.kind,
                        request_id=draft.request_id,
                        text=draft.text,
                        next_attempt_at=now,
                        created_at=now,
                    ).model_dump(exclude={"id"})
                    for draft in outbox
                ],
            )

    def _index_request(self, session: Session, thread: ThreadRow, event: Event, now: datetime) -> None:
        requests = _table(RequestRow)
        if isinstance(event, ApprovalRequested):
            _insert_row(
                session,
                RequestRow(
                    id=event.request_id,
                    thread_id=thread.id,
                    kind="approval",
                    call_id=event.call_id,
                    tool=event.tool,
                    arguments=dict(event.arguments),
                    digest=event.digest,
                    reason=event.reason,
                    allowed=list(event.approvers),
                    requested_by=thread.requested_by,
                    created_at=now,
                ),
            )
        elif isinstance(event, QuestionAsked):
            _insert_row(
                session,
                RequestRow(
                    id=event.request_id,
                    thread_id=thread.id,
                    kind="question",
                    question=event.question,
                    options=list(event.options),
                    allowed=list(event.answerers),
                    requested_by=thread.requested_by,
                    created_at=now,
                ),
            )
        elif isinstance(event, (ApprovalDecided, QuestionAnswered)):
            if isinstance(event, ApprovalDecided):
                outcome = {"status": "approved" if event.approved else "denied", "comment": event.comment}
            else:
                outcome = {"status": "answered", "comment": event.answer}
            session.execute(
                update(requests)
                # Only a request of this thread: a decision must never close another thread's request.
                .where(
                    requests.c.id == event.request_id,
                    requests.c.thread_id == thread.id,
                    requests.c.status == "pending",
                )
                .values(**outcome, decided_by=event.by, decided_at=now)
            )

    def get_thread(self, thread_id: str) -> ThreadRow | None:
        with self.db.session() as session:
            return session.get(ThreadRow, thread_id)

    def thread_by_origin(self, channel: str, key: str) -> ThreadRow | None:
        with self.db.session() as session:
            return session.exec(
                select(ThreadRow).where(ThreadRow.origin_channel == channel, ThreadRow.origin_key == key)
            ).first()

    def snapshot(self, thread_id: str) -> ThreadSnapshot:
        with self.db.session() as session:
            return _snapshot(session, thread_id)

    def events_since(self, thread_id: str, seq: int) -> list[Event]:
        """The thread's events after sequence number `seq`, in order."""
        with self.db.session() as session:
            return _events(session, thread_id, after_seq=seq)

    def stored_events(self, thread_id: str) -> list[StoredEvent]:
        with self.db.session() as session:
            return _load_events(session, thread_id)

    def list_threads(self, *, status: str | None = None, limit: int = 100) -> list[ThreadRow]:
        with self.db.session() as session:
            query = select(ThreadRow).order_by(col(ThreadRow.updated_at).desc()).limit(limit)
            if status:
                query = query.where(ThreadRow.status == status)
            return list(session.exec(query))

    # --- human requests ------------------------------------------------------------------

    def get_request(self, request_id: str) -> RequestRow | None:
        with self.db.session() as session:
            return _request_row(session, request_id)

    def list_requests(
        self, *, status: str | None = None, thread_id: str | None = None, limit: int = 100
    ) -> list[RequestRow]:
        with self.db.session() as session:
            query = select(RequestRow).order_by(col(RequestRow.created_at)).limit(limit)
            if status:
                query = query.where(RequestRow.status == status)
            if thread_id:
                query = query.where(RequestRow.thread_id == thread_id)
            return list(session.exec(query))

    def resolve(
        self,
        request_id: str,
        event: ApprovalDecided | QuestionAnswered,
        *,
        allowed_check: bool = True,
        identities: Sequence[str] = (),
        delivery_key: str | None = None,
        outbox: Sequence[OutboxDraft] | Callable[[ThreadRow], Sequence[OutboxDraft]] = (),
        bind_digest: bool = False,
    ) -> DecisionResult:
        """Record a human's decision or answer; the first valid one wins, atomically.

        `identities` are other names the person holds (e.g. their Slack user groups), checked
        against the allowed list alongside `event.by`. `bind_digest` binds an approval to what the
        request shows now: its digest is that of the request's tool and arguments, read in this
        transaction. `outbox` may be a function of the thread, when the messages depend on where
        the thread came from.
        """
        with self.db.write() as session:
            request = _request_row(session, request_id, for_update=True)
            if request is None:
                return DecisionResult("unknown")
            if bind_digest and isinstance(event, ApprovalDecided):
                shown = t.arguments_digest(request.tool, dict(request.arguments)) if request.tool else ""
                event = event.model_copy(update={"digest": shown})
            expected_kind = "approval" if isinstance(event, ApprovalDecided) else "question"
            if request.kind != expected_kind:
                return DecisionResult("invalid", request)
            if request.status != "pending":
                return DecisionResult("already_decided", request)
            # ASCII case only: str.lower folds look-alikes (the Kelvin sign into `k`) into the real thing.
            held = {_ascii_lower(event.by), *(_ascii_lower(i) for i in identities)}
            if allowed_check and request.allowed and not held & {_ascii_lower(a) for a in request.allowed}:
                return DecisionResult("not_allowed", request)
            if isinstance(event, ApprovalDecided) and event.approved and event.digest not in ("", request.digest):
                return DecisionResult("changed", request)  # what was shown is not what would run
            if delivery_key is not None and not _record_delivery(session, delivery_key, request.thread_id):
                return DecisionResult("duplicate", request)
            thread = self._thread_for_update(session, request.thread_id)
            self._append(session, thread, [event], outbox(thread) if callable(outbox) else outbox)
            return DecisionResult("accepted", _request_row(session, request_id), thread, [event])

    def set_request_delivery(self, request_id: str, refs: dict[str, Any]) -> None:
        with self.db.write() as session:
            request = session.get(RequestRow, request_id)
            if request is not None:
                request.delivery = {**request.delivery, **refs}
                session.add(request)

    # --- inbox ---------------------------------------------------------------------------

    def record_delivery(self, key: str, thread_id: str | None = None) -> bool:
        """Remember an inbound delivery; False when it was seen before."""
        with self.db.write() as session:
            return _record_delivery(session, key, thread_id)

    def seen_delivery(self, key: str) -> bool:
        with self.db.session() as session:
            return session.get(InboxRow, key) is not None

    def delivery_thread(self, key: str) -> str | None:
        """The thread an inbound delivery went to, if it was recorded."""
        with self.db.session() as session:
            row = session.get(InboxRow, key)
            return row.thread_id if row else None

    def delivery_threads(self, keys: Sequence[str]) -> dict[str, str | None]:
        """Which of `keys` were recorded, and the thread each went to."""
        if not keys:
            return {}
        with self.db.session() as session:
            rows = session.exec(select(InboxRow).where(col(InboxRow.key).in_(list(keys))))
            return {row.key: row.thread_id for row in rows}

    def thread_deliveries(self, thread_id: str, prefix: str) -> list[str]:
        """The keys recorded for a thread that start with `prefix`, oldest first."""
        with self.db.session() as session:
            return list(
                session.exec(
                    select(InboxRow.key)
                    .where(InboxRow.thread_id == thread_id, col(InboxRow.key).startswith(prefix, autoescape=True))
                    .order_by(col(InboxRow.received_at), col(InboxRow.key))
                )
            )

    # --- mailbox state (the IMAP watcher's progress) ---------------------------------------

    def mailbox_state(self, mailbox: str) -> tuple[int, int] | None:
        """(UIDVALIDITY, last processed UID) of a mailbox, if it was ever saved."""
        with self.db.session() as session:
            row = session.get(MailboxStateRow, mailbox)
            return (row.uidvalidity, row.last_uid) if row else None

    def save_mailbox_state(self, mailbox: str, uidvalidity: int, last_uid: int) -> None:
        """Save progress; within one UIDVALIDITY the last UID only moves forward (replicas race)."""
        with self.db.write() as session:
            row = session.exec(
                select(MailboxStateRow).where(MailboxStateRow.mailbox == mailbox).with_for_update()
            ).first()
            if row is None:
                try:
                    with session.begin_nested():
                        session.add(
                            MailboxStateRow(
                                mailbox=mailbox, uidvalidity=uidvalidity, last_uid=last_uid, updated_at=utcnow()
                            )
                        )
                        session.flush()
                    return
                except IntegrityError:
                    row = session.exec(
                        select(MailboxStateRow).where(MailboxStateRow.mailbox == mailbox).with_for_update()
                    ).one()
            if row.uidvalidity == uidvalidity and row.last_uid >= last_uid:
                return
            row.uidvalidity = uidvalidity
            row.last_uid = last_uid
            row.updated_at = utcnow()
            session.add(row)

    # --- leases --------------------------------------------------------------------------

    def runnable_threads(self, *, limit: int = 50) -> list[str]:
        now = utcnow()
        with self.db.session() as session:
            return list(
                session.exec(
                    select(ThreadRow.id)
                    .where(
                        ThreadRow.status == "running",
                        or_(col(ThreadRow.lease_until).is_(None), col(ThreadRow.lease_until) < now),
                    )
                    .order_by(col(ThreadRow.updated_at))
                    .limit(limit)
                )
            )

    def claim(self, thread_id: str, owner: str, ttl: timedelta) -> bool:
        with self.db.write() as session:
            return _claim(session, thread_id, owner, ttl)

    def claim_snapshot(self, thread_id: str, owner: str, ttl: timedelta) -> ThreadSnapshot | None:
        """Take the thread's lease and load it, in one transaction; None when another worker holds it."""
        with self.db.write() as session:
            return _snapshot(session, thread_id) if _claim(session, thread_id, owner, ttl) else None

    def renew(self, thread_id: str, owner: str, ttl: timedelta) -> bool:
        threads = _table(ThreadRow).c
        with self.db.write() as session:
            result = session.execute(
                update(_table(ThreadRow))
                .where(threads.id == thread_id, threads.lease_owner == owner)
                .values(lease_until=utcnow() + ttl)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def release(self, thread_id: str, owner: str) -> None:
        threads = _table(ThreadRow).c
        with self.db.write() as session:
            session.execute(
                update(_table(ThreadRow))
                .where(threads.id == thread_id, threads.lease_owner == owner)
                .values(lease_owner=None, lease_until=None)
            )

    def release_dead_local_leases(self, is_alive: Any) -> int:
        """Free leases held by processes on this host that no longer exist (after a crash)."""
        host = socket.gethostname()
        freed = 0
        with self.db.write() as session:
            rows = session.exec(select(ThreadRow).where(col(ThreadRow.lease_owner).like(f"{host}:%"))).all()
            for row in rows:
                try:
                    pid = int((row.lease_owner or "").split(":")[1])
                except (IndexError, ValueError):
                    continue
                if not is_alive(pid):
                    row.lease_owner = None
                    row.lease_until = None
                    session.add(row)
                    freed += 1
        return freed

    # --- outbox --------------------------------------------------------------------------

    def due_outbox(self, *, limit: int = 20) -> list[OutboxRow]:
        """Messages to send now: per thread and channel, only the oldest unsent one, so a decision
        never overtakes the card it updates (say, while that card waits for a retry)."""
        now = utcnow()
        earlier = aliased(OutboxRow)
        with self.db.session() as session:
            return list(
                session.exec(
                    select(OutboxRow)
                    .where(
                        OutboxRow.status == "pending",
                        col(OutboxRow.next_attempt_at) <= now,
                        or_(col(OutboxRow.claimed_until).is_(None), col(OutboxRow.claimed_until) < now),
                        ~exists().where(
                            col(earlier.thread_id) == col(OutboxRow.thread_id),
                            col(earlier.channel) == col(OutboxRow.channel),
                            col(earlier.status) == "pending",
                            col(earlier.id) < col(OutboxRow.id),
                        ),
                    )
                    .order_by(col(OutboxRow.id))
                    .limit(limit)
                )
            )

    def claim_outbox(self, outbox_id: int, ttl: timedelta) -> bool:
        now = utcnow()
        with self.db.write() as session:
            result = session.execute(
                update(OutboxRow)
                .where(
                    col(OutboxRow.id) == outbox_id,
                    col(OutboxRow.status) == "pending",
                    or_(col(OutboxRow.claimed_until).is_(None), col(OutboxRow.claimed_until) < now),
                )
                .values(claimed_until=now + ttl, attempts=OutboxRow.attempts + 1)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def outbox_sent(self, outbox_id: int, refs: dict[str, Any], *, note: Event | None = None) -> OutboxRow:
        """Record a sent message and where it landed, with `note` (some recipients it missed)
        appended to the thread in the same transaction."""
        with self.db.write() as session:
            row = session.get_one(OutboxRow, outbox_id)
            row.status = "sent"
            row.sent_at = utcnow()
            row.refs = {**row.refs, **refs}
            row.claimed_until = None
            session.add(row)
            if row.request_id and refs:
                request = session.get(RequestRow, row.request_id)
                if request is not None:
                    request.delivery = {**request.delivery, row.kind: refs, **_first_refs(request.delivery, refs)}
                    session.add(request)
            if note is not None:
                self._append(session, self._thread_for_update(session, row.thread_id), [note], ())
            return row

    def outbox_failed(
        self, outbox_id: int, error: str, *, retry_at: datetime | None, note: Event | None = None
    ) -> None:
        """Record a failed send: tried again at `retry_at`, or (None) given up, with `note` appended
        to the thread in the same transaction."""
        with self.db.write() as session:
            row = session.get_one(OutboxRow, outbox_id)
            row.last_error = error[:1000]
            row.claimed_until = None
            if retry_at is None:
                row.status = "failed"
            else:
                row.next_attempt_at = retry_at
            session.add(row)
            if note is not None:
                self._append(session, self._thread_for_update(session, row.thread_id), [note], ())

    def outbox_for_thread(self, thread_id: str) -> list[OutboxRow]:
        with self.db.session() as session:
            return list(
                session.exec(select(OutboxRow).where(OutboxRow.thread_id == thread_id).order_by(col(OutboxRow.id)))
            )


def _first_refs(existing: dict[str, Any], refs: dict[str, Any]) -> dict[str, Any]:
    # The first message sent for a request is the one later updates point at.
    return {k: v for k, v in refs.items() if k not in existing}


def _record_delivery(session: Session, key: str, thread_id: str | None = None) -> bool:
    """Record a delivery key once: one INSERT that does nothing when the key is already there."""
    dialect = session.get_bind().dialect.name
    insert_row = sqlite_insert if dialect == "sqlite" else postgresql_insert
    inbox = _table(InboxRow)
    statement = (
        insert_row(inbox)
        .values(key=key, thread_id=thread_id, received_at=utcnow())
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(inbox.c.key)
    )
    return session.execute(statement).first() is not None


def _table(model: type[SQLModel]) -> Table:
    """The model's table: statements on it skip the ORM's bulk-insert machinery."""
    return model.__table__  # type: ignore[attr-defined,no-any-return]


def _event_values(thread_id: str, seq: int, event: Event, now: datetime) -> dict[str, Any]:
    data = json.dumps(dump_event(event), separators=(",", ":"))
    return {"thread_id": thread_id, "seq": seq, "type": event.type, "data": data, "created_at": now}


def _load_events(session: Session, thread_id: str) -> list[StoredEvent]:
    events = _table(EventRow).c
    rows = session.execute(
        core_select(events.seq, events.data, events.created_at)
        .where(events.thread_id == thread_id)
        .order_by(events.seq)
    )
    return [StoredEvent(seq, parse_event(data), created_at) for seq, data, created_at in rows]


def _row_by_id(session: Session, model: type[M], row_id: str, *, for_update: bool = False) -> M | None:
    """One row by primary key, read by a plain statement (no ORM identity map on the hot path)."""
    table = _table(model)
    statement = core_select(table).where(table.c.id == row_id)
    found = session.execute(statement.with_for_update() if for_update else statement).first()
    return None if found is None else model(**found._mapping)


def _thread_row(session: Session, thread_id: str, *, for_update: bool = False) -> ThreadRow:
    row = _row_by_id(session, ThreadRow, thread_id, for_update=for_update)
    if row is None:
        raise NotFound(f"no thread {thread_id}")
    return row


def _request_row(session: Session, request_id: str, *, for_update: bool = False) -> RequestRow | None:
    return _row_by_id(session, RequestRow, request_id, for_update=for_update)


def _events(session: Session, thread_id: str, *, after_seq: int = 0) -> list[Event]:
    events = _table(EventRow).c
    rows = session.execute(
        core_select(events.data).where(events.thread_id == thread_id, events.seq > after_seq).order_by(events.seq)
    )
    return [parse_event(data) for (data,) in rows]


def _snapshot(session: Session, thread_id: str) -> ThreadSnapshot:
    return ThreadSnapshot(_thread_row(session, thread_id), _events(session, thread_id))


def _claim(session: Session, thread_id: str, owner: str, ttl: timedelta) -> bool:
    now = utcnow()
    threads = _table(ThreadRow).c
    result = session.execute(
        update(_table(ThreadRow))
        .where(
            threads.id == thread_id,
            or_(threads.lease_owner.is_(None), threads.lease_until < now, threads.lease_owner == owner),
        )
        .values(lease_owner=owner, lease_until=now + ttl)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _insert_row(session: Session, row: SQLModel) -> None:
    session.execute(insert(_table(type(row))).values(**row.model_dump()))


def status_counts(store: Store) -> dict[str, int]:
    with store.db.session() as session:
        rows = session.exec(select(ThreadRow.status, func.count()).group_by(ThreadRow.status)).all()
        return {status: count for status, count in rows}


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _ascii_lower(identity: str) -> str:
    return identity.translate(_ASCII_LOWER)
