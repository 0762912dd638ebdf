"""The example agent's own tables: its service inventory and the effects of its tools.

They live in Signoff's database (the example is handed it at start), but they are the example's,
not Signoff's: an agent of yours keeps its state wherever it likes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from storage.db import Database
from storage.models import UTCDateTime


def _ts() -> datetime:
    return Field(sa_column=Column(UTCDateTime(), nullable=False))  # type: ignore[no-any-return]


class ServiceRow(SQLModel, table=True):
    """The example agent's service inventory."""

    __tablename__ = "inventory_services"

    name: str = Field(primary_key=True, max_length=100)
    version: str = Field(max_length=100)
    state: str = Field(default="running", max_length=32)
    restarts: int = 0
    updated_at: datetime = _ts()


class ServiceActionRow(SQLModel, table=True):
    """An effect of the example agent, keyed by the tool call so a re-run does it once."""

    __tablename__ = "inventory_actions"

    call_id: str = Field(primary_key=True, max_length=64)
    service: str = Field(max_length=100)
    action: str = Field(max_length=32)
    detail: str = Field(default="", max_length=200)
    approved_by: str | None = Field(default=None, max_length=320)
    thread_id: str = Field(max_length=64)
    result: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    at: datetime = _ts()


def create_tables(db: Database) -> None:
    """Create the inventory's tables where they are missing (Signoff's first migration made them
    on databases it created before the example owned them)."""
    SQLModel.metadata.create_all(db.engine, tables=[ServiceRow.__table__, ServiceActionRow.__table__])  # type: ignore[attr-defined]
