"""Leases: one worker advances a thread at a time, and a crashed worker's threads are taken back."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta

from sqlalchemy import Update, or_, update
from sqlmodel import Session, col, select

from agent.events import Event
from storage._sql import events_after, table
from storage.db import Database
from storage.event_log import append_events
from storage.models import ThreadRow, utcnow
from storage.status import ThreadStatus
from storage.threads import ThreadSnapshot

# Given the thread just claimed (its row and events), what to append right away, in the claim's transaction.
FirstAppend = Callable[[ThreadRow, list[Event]], Sequence[Event]]


def worker_identity() -> str:
    """host:pid:random, so a restarted process on the same host can tell its dead leases."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Leases:
    db: Database

    def runnable_threads(self, *, limit: int = 50) -> list[str]:
        now = utcnow()
        with self.db.session() as session:
            return list(
                session.exec(
                    select(ThreadRow.id)
                    .where(
                        ThreadRow.status == ThreadStatus.RUNNING,
                        or_(col(ThreadRow.lease_until).is_(None), col(ThreadRow.lease_until) < now),
                    )
                    .order_by(col(ThreadRow.updated_at))
                    .limit(limit)
                )
            )

    def claim(self, thread_id: str, owner: str, ttl: timedelta) -> bool:
        with self.db.write() as session:
            return _claim(session, thread_id, owner, ttl)

    def claim_snapshot(
        self, thread_id: str, owner: str, ttl: timedelta, *, then: FirstAppend | None = None
    ) -> ThreadSnapshot | None:
        """Take the thread's lease and load it, in one transaction; None when another worker holds it.

        `then` may append to the thread in that same transaction, under the lease just taken: an
        approved call's `tool_started`, so that its body can run without another commit first.
        """
        with self.db.write() as session:
            row = _claimed_row(session, thread_id, owner, ttl)
            if row is None:
                return None
            events = events_after(session, thread_id)
            first = list(then(row, events)) if then is not None else []
            if first:
                append_events(session, row, first, ())
            return ThreadSnapshot(row, events + first)

    def renew(self, thread_id: str, owner: str, ttl: timedelta) -> bool:
        threads = table(ThreadRow)
        with self.db.write() as session:
            result = session.execute(
                update(threads)
                .where(threads.c.id == thread_id, threads.c.lease_owner == owner)
                .values(lease_until=utcnow() + ttl)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def release(self, thread_id: str, owner: str) -> None:
        threads = table(ThreadRow)
        with self.db.write() as session:
            session.execute(
                update(threads)
                .where(threads.c.id == thread_id, threads.c.lease_owner == owner)
                .values(lease_owner=None, lease_until=None)
            )

    def release_dead_local_leases(self, is_alive: Callable[[int], bool]) -> int:
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


def _claim_statement(thread_id: str, owner: str, ttl: timedelta) -> Update:
    now = utcnow()
    threads = table(ThreadRow)
    return (
        update(threads)
        .where(
            threads.c.id == thread_id,
            or_(threads.c.lease_owner.is_(None), threads.c.lease_until < now, threads.c.lease_owner == owner),
        )
        .values(lease_owner=owner, lease_until=now + ttl)
    )


def _claim(session: Session, thread_id: str, owner: str, ttl: timedelta) -> bool:
    result = session.execute(_claim_statement(thread_id, owner, ttl))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _claimed_row(session: Session, thread_id: str, owner: str, ttl: timedelta) -> ThreadRow | None:
    """Claim the thread and read its row in one statement (the UPDATE locks it); None if held."""
    found = session.execute(_claim_statement(thread_id, owner, ttl).returning(*table(ThreadRow).c)).first()
    return None if found is None else ThreadRow(**found._mapping)
