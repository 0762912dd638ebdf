"""The timers a request's event schedules, written with the request (private to `storage`)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import insert
from sqlmodel import Session

from agent.events import ApprovalRequested, QuestionAsked
from storage._sql import table
from storage.timer_models import RequestTimerRow

KINDS = ("remind", "escalate", "expire")


def schedule_timers(session: Session, thread_id: str, event: ApprovalRequested | QuestionAsked, now: datetime) -> None:
    """One row per duration the event carries, due that long after `now` (when it is recorded)."""
    after = {"remind": event.remind_after, "escalate": event.escalate_after, "expire": event.expire_after}
    rows = [
        {
            "request_id": event.request_id,
            "kind": kind,
            "thread_id": thread_id,
            "due_at": now + timedelta(seconds=seconds),
            "fired_at": None,
            "outcome": "",
            "escalate_to": list(event.escalate_to) if kind == "escalate" else [],
            "created_at": now,
        }
        for kind in KINDS
        if (seconds := after[kind]) is not None
    ]
    if rows:
        session.execute(insert(table(RequestTimerRow)), rows)
