"""Helpers every aggregate's statements share. Private to `storage`.

The hot paths (a step's append, a lease, a load, a decision, the intake) use SQLAlchemy Core
statements on the models' tables rather than the ORM's unit of work: at every step of every thread
the ORM's bookkeeping cost more CPU than the database's work. Rows come back as the models.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Table, insert
from sqlalchemy import select as core_select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, SQLModel

from agent.events import Event, dump_event, parse_event
from storage.errors import NotFound
from storage.models import EventRow, ReceiptRow, RequestRow, ThreadRow, utcnow

M = TypeVar("M", bound=SQLModel)


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    event: Event
    created_at: datetime


def table(model: type[SQLModel]) -> Table:
    """The model's table, for Core statements."""
    return model.__table__  # type: ignore[attr-defined,no-any-return]


def insert_row(session: Session, row: SQLModel) -> None:
    session.execute(insert(table(type(row))).values(**row.model_dump()))


def row_by_id(session: Session, model: type[M], row_id: str, *, for_update: bool = False) -> M | None:
    """One row by primary key, read by a plain statement (no ORM identity map on the hot path)."""
    rows = table(model)
    statement = core_select(rows).where(rows.c.id == row_id)
    found = session.execute(statement.with_for_update() if for_update else statement).first()
    return None if found is None else model(**found._mapping)


def thread_row(session: Session, thread_id: str, *, for_update: bool = False) -> ThreadRow:
    row = row_by_id(session, ThreadRow, thread_id, for_update=for_update)
    if row is None:
        raise NotFound(f"no thread {thread_id}")
    return row


def request_row(session: Session, request_id: str, *, for_update: bool = False) -> RequestRow | None:
    return row_by_id(session, RequestRow, request_id, for_update=for_update)


def event_values(thread_id: str, seq: int, event: Event, now: datetime) -> dict[str, Any]:
    """An `events` row's values."""
    data = json.dumps(dump_event(event), separators=(",", ":"))
    return {"thread_id": thread_id, "seq": seq, "type": event.type, "data": data, "created_at": now}


def events_after(session: Session, thread_id: str, *, after_seq: int = 0) -> list[Event]:
    events = table(EventRow).c
    rows = session.execute(
        core_select(events.data).where(events.thread_id == thread_id, events.seq > after_seq).order_by(events.seq)
    )
    return [parse_event(data) for (data,) in rows]


def stored_events(session: Session, thread_id: str) -> list[StoredEvent]:
    events = table(EventRow).c
    rows = session.execute(
        core_select(events.seq, events.data, events.created_at)
        .where(events.thread_id == thread_id)
        .order_by(events.seq)
    )
    return [StoredEvent(seq, parse_event(data), created_at) for seq, data, created_at in rows]


def insert_receipt(session: Session, key: str, thread_id: str | None = None) -> bool:
    """Record a delivery key once: one INSERT that does nothing when the key is already there."""
    dialect = session.get_bind().dialect.name
    insert_for = sqlite_insert if dialect == "sqlite" else postgresql_insert
    inbox = table(ReceiptRow)
    statement = (
        insert_for(inbox)
        .values(key=key, thread_id=thread_id, received_at=utcnow())
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(inbox.c.key)
    )
    return session.execute(statement).first() is not None
