"""The clock's table: one row per timer of a human request (remind, escalate, expire).

Kept apart from `storage.models` (which imports this module, so the table registers with the rest).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from storage.models import _ts


class RequestTimerRow(SQLModel, table=True):
    """A timer, written in the transaction that records its request (from the durations on the
    request's event) and fired once: `fired_at` is set in the transaction that records what it did
    (`request_reminded`, `request_escalated`, `request_expired`) or that it found the request
    decided. Due and unfired rows are found through `ix_request_timers_due`."""

    __tablename__ = "request_timers"
    __table_args__ = (Index("ix_request_timers_due", "fired_at", "due_at"),)

    request_id: str = Field(primary_key=True, foreign_key="requests.id", max_length=64)
    kind: str = Field(primary_key=True, max_length=16)  # remind | escalate | expire
    thread_id: str = Field(foreign_key="threads.id", max_length=64)
    due_at: datetime = _ts(nullable=False)
    fired_at: datetime | None = _ts(nullable=True)
    # fired: it did its work; decided: the request was no longer pending; superseded: a reminder or
    # an escalation found the request's expiry due as well (a start after a long stop), so only that fires.
    outcome: str = Field(default="", max_length=16)
    escalate_to: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _ts(nullable=False)
