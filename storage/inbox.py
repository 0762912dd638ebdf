"""The web inbox's lists: human requests and threads, filtered and paged, newest or oldest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_
from sqlmodel import col, select

from storage.db import Database
from storage.models import RequestRow, ThreadRow


@dataclass(frozen=True)
class ListFilter:
    """Every field is optional; `older_than` / `newer_than` are ages measured from `now`."""

    now: datetime
    status: str | None = None
    agent: str | None = None
    tool: str | None = None
    person: str | None = None
    channel: str | None = None
    older_than: timedelta | None = None
    newer_than: timedelta | None = None


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    total: int


class Inbox:
    db: Database

    def search_requests(
        self, where: ListFilter, *, offset: int = 0, limit: int = 50, oldest_first: bool = False
    ) -> Page:
        """Requests with their threads, as `(RequestRow, ThreadRow)` pairs; newest first by default."""
        conditions: list[Any] = [col(RequestRow.thread_id) == col(ThreadRow.id)]
        if where.status:
            conditions.append(col(RequestRow.status) == where.status)
        if where.tool:
            conditions.append(col(RequestRow.tool) == where.tool)
        if where.person:
            conditions.append(
                or_(col(RequestRow.requested_by) == where.person, col(RequestRow.decided_by) == where.person)
            )
        conditions += _thread_conditions(where)
        conditions += _age_conditions(col(RequestRow.created_at), where)
        with self.db.session() as session:
            total = session.exec(select(func.count()).select_from(RequestRow, ThreadRow).where(*conditions)).one()
            order = col(RequestRow.created_at) if oldest_first else col(RequestRow.created_at).desc()
            query = select(RequestRow, ThreadRow).where(*conditions).order_by(order).offset(offset).limit(limit)
            return Page([tuple(pair) for pair in session.exec(query)], int(total))

    def search_threads(self, where: ListFilter, *, offset: int = 0, limit: int = 50) -> Page:
        """Threads, most recently changed first."""
        conditions: list[Any] = []
        if where.status:
            conditions.append(col(ThreadRow.status) == where.status)
        if where.person:
            conditions.append(col(ThreadRow.requested_by) == where.person)
        if where.tool:
            used = select(RequestRow.thread_id).where(col(RequestRow.tool) == where.tool)
            conditions.append(col(ThreadRow.id).in_(used))
        conditions += _thread_conditions(where)
        conditions += _age_conditions(col(ThreadRow.created_at), where)
        with self.db.session() as session:
            total = session.exec(select(func.count()).select_from(ThreadRow).where(*conditions)).one()
            query = (
                select(ThreadRow)
                .where(*conditions)
                .order_by(col(ThreadRow.updated_at).desc())
                .offset(offset)
                .limit(limit)
            )
            return Page(list(session.exec(query)), int(total))

    def distinct_values(self) -> dict[str, list[str]]:
        """The agents, channels and tools seen, for the filters' choices."""
        with self.db.session() as session:
            return {
                "agent": sorted(session.exec(select(ThreadRow.agent).distinct())),
                "channel": sorted(session.exec(select(ThreadRow.origin_channel).distinct())),
                "tool": sorted(t for t in session.exec(select(RequestRow.tool).distinct()) if t),
            }


def _thread_conditions(where: ListFilter) -> list[Any]:
    conditions: list[Any] = []
    if where.agent:
        conditions.append(col(ThreadRow.agent) == where.agent)
    if where.channel:
        conditions.append(col(ThreadRow.origin_channel) == where.channel)
    return conditions


def _age_conditions(created: Any, where: ListFilter) -> list[Any]:
    conditions: list[Any] = []
    if where.older_than is not None:
        conditions.append(created <= where.now - where.older_than)
    if where.newer_than is not None:
        conditions.append(created > where.now - where.newer_than)
    return conditions
