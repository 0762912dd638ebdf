"""The schedules' table: how far each schedule has fired (bot/scheduler.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from storage.models import UTCDateTime


class ScheduleRow(SQLModel, table=True):
    """One schedule of the deployment file, by name: when it was first seen (nothing before is
    caught up), and its last due time dealt with, fired (with the thread it started) or skipped."""

    __tablename__ = "schedules"

    name: str = Field(primary_key=True, max_length=100)
    since: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    last_due: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    last_outcome: str | None = Field(default=None, max_length=16)  # fired | skipped
    last_thread_id: str | None = Field(default=None, max_length=64)
    fired: int = 0
    skipped: int = 0
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
