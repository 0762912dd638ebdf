"""The clock of human requests: timers that remind, escalate and expire, each fired once.

A request's timers are written with it (`_timers.schedule_timers`, from the durations on its
event). `fire_due_timers(now)` fires those due at `now`, one per transaction: it takes a due row
(`FOR UPDATE SKIP LOCKED` on PostgreSQL, so replicas never wait on each other; SQLite has one writer
at a time), marks it fired with a conditional UPDATE, and records what it did in the same
transaction: on a request still pending, `request_reminded`, `request_escalated` or
`request_expired` on its thread, with the messages they cause in the outbox; on a request decided
meanwhile, nothing but the row's outcome. So a timer fires once across replicas and restarts, and
one due while every process was down fires at the next start. `now` is the caller's clock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select as core_select
from sqlalchemy import update
from sqlmodel import Session

from agent.events import Event, RequestEscalated, RequestExpired, RequestReminded
from storage._sql import request_row, table, thread_row
from storage.db import Database
from storage.event_log import OutboxDraft, append_events
from storage.models import RequestRow, ThreadRow
from storage.people import names_of
from storage.people_models import PersonRow
from storage.status import RequestStatus
from storage.timer_models import RequestTimerRow

# What the fired events cause, by where the thread lives (bot/timer_service.py decides).
TimerOutbox = Callable[[ThreadRow, Sequence[Event]], Sequence[OutboxDraft]]


@dataclass(frozen=True)
class FiredTimer:
    request_id: str
    thread_id: str
    kind: str  # remind | escalate | expire
    outcome: str  # fired | decided | superseded
    messages: int = 0  # outbox rows written


class RequestClock:
    db: Database

    def fire_due_timers(self, now: datetime, outbox: TimerOutbox, *, limit: int = 50) -> list[FiredTimer]:
        """Fire at most `limit` timers due at `now`, oldest first; what each did."""
        fired: list[FiredTimer] = []
        for _ in range(limit):
            with self.db.write() as session:
                done = self._fire_one(session, now, outbox)
            if done is None:
                break
            fired.append(done)
        return fired

    def timers_for(self, request_id: str) -> list[RequestTimerRow]:
        with self.db.session() as session:
            timers = table(RequestTimerRow)
            rows = session.execute(
                core_select(timers).where(timers.c.request_id == request_id).order_by(timers.c.due_at)
            ).all()
            return [RequestTimerRow(**r._mapping) for r in rows]

    def _fire_one(self, session: Session, now: datetime, outbox: TimerOutbox) -> FiredTimer | None:
        timers = table(RequestTimerRow)
        due = (
            core_select(timers)
            .where(timers.c.fired_at.is_(None), timers.c.due_at <= now)
            .order_by(timers.c.due_at)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        found = session.execute(due).first()
        if found is None:
            return None
        timer = RequestTimerRow(**found._mapping)
        claimed = session.execute(
            update(timers)
            .where(timers.c.request_id == timer.request_id, timers.c.kind == timer.kind, timers.c.fired_at.is_(None))
            .values(fired_at=now)
        )
        if not claimed.rowcount:  # type: ignore[attr-defined]
            return FiredTimer(timer.request_id, timer.thread_id, timer.kind, "taken")
        outcome, messages = self._act(session, timer, now, outbox)
        session.execute(
            update(timers)
            .where(timers.c.request_id == timer.request_id, timers.c.kind == timer.kind)
            .values(outcome=outcome)
        )
        return FiredTimer(timer.request_id, timer.thread_id, timer.kind, outcome, messages)

    def _act(self, session: Session, timer: RequestTimerRow, now: datetime, outbox: TimerOutbox) -> tuple[str, int]:
        request = request_row(session, timer.request_id, for_update=True)
        if request is None or request.status != RequestStatus.PENDING:
            return "decided", 0
        if timer.kind != "expire" and _expiry_due(session, timer.request_id, now):
            return "superseded", 0
        event: Event
        if timer.kind == "expire":
            event = RequestExpired(request_id=request.id)
        elif timer.kind == "escalate":
            event = RequestEscalated(request_id=request.id, to=list(timer.escalate_to))
        else:
            event = RequestReminded(
                request_id=request.id,
                awaiting=_awaiting(session, request),
                count=len(request.approvals or []),
                required=request.required or 1,
            )
        thread = thread_row(session, request.thread_id, for_update=True)
        drafts = list(outbox(thread, [event]))
        append_events(session, thread, [event], drafts)
        return "fired", len(drafts)


def _expiry_due(session: Session, request_id: str, now: datetime) -> bool:
    timers = table(RequestTimerRow).c
    found = session.execute(
        core_select(timers.kind).where(
            timers.request_id == request_id, timers.kind == "expire", timers.fired_at.is_(None), timers.due_at <= now
        )
    ).first()
    return found is not None


def _awaiting(session: Session, request: RequestRow) -> list[str]:
    """Who the request still waits for: its allowed names but those of the people whose approval
    already counts toward N of M (any name of theirs the directory knows)."""
    counted: set[str] = set()
    for entry in request.approvals or []:
        counted.update(_fold(str(entry.get(key) or "")) for key in ("by", "person"))
        person_id = entry.get("person_id")
        person = session.get(PersonRow, person_id) if isinstance(person_id, str) else None
        if person is not None:
            counted.update(_fold(name) for name in names_of(person))
    return [name for name in request.allowed if _fold(name) not in counted]


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _fold(name: str) -> str:
    return name.translate(_ASCII_LOWER)
