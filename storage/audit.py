"""The audit's reads: every event about a human request (or a gated call a policy let run), across
threads, in the order recorded. Events are append-only, so the audit is too: it is derived from the
threads' events, never kept apart.

An event is about a request when it carries a `request_id` (requests, progress, decisions, answers,
and whatever request events come later: reminders, escalations, expiry, edits); a `tool_call` with
a `rule` is a gated call its policy let run without approval; a `human_message` with a `trigger` is
a schedule's firing or a webhook's delivery.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_
from sqlalchemy import select as core_select

from agent.events import Event, parse_event
from storage._sql import table
from storage.db import Database
from storage.models import EventRow, RequestRow, ThreadRow

MAX_AUDIT_ROWS = 100_000


@dataclass(frozen=True)
class AuditEvent:
    id: int
    thread_id: str
    seq: int
    at: datetime
    event: Event


@dataclass(frozen=True)
class RequestFacts:
    tool: str | None
    requested_by: str


def audited_condition(events: Any) -> ColumnElement[bool]:
    """The audited events, in SQL, on the `events` table's columns: a superset of
    `storage.audit_chain.is_audited`, which callers apply to what this finds."""
    return or_(
        events.data.like('%"request_id":%'),
        and_(events.type == "tool_call", events.data.like('%"rule":"_%'), events.data.not_like('%"rule":""%')),
        and_(events.type == "human_message", events.data.like('%"trigger":"_%')),
    )


class AuditLog:
    db: Database

    def audit_events(
        self,
        *,
        since: datetime | None = None,
        thread_id: str | None = None,
        after_id: int = 0,
        limit: int = 10_000,
    ) -> list[AuditEvent]:
        """Request events in the order recorded (by row id), oldest first, at most `limit`."""
        events = table(EventRow).c
        query = (
            core_select(events.id, events.thread_id, events.seq, events.created_at, events.data)
            .where(audited_condition(events), events.id > after_id)
            .order_by(events.id)
            .limit(min(limit, MAX_AUDIT_ROWS))
        )
        if since is not None:
            query = query.where(events.created_at >= since)
        if thread_id is not None:
            query = query.where(events.thread_id == thread_id)
        with self.db.session() as session:
            rows = session.execute(query).all()
        return [AuditEvent(r.id, r.thread_id, r.seq, r.created_at, parse_event(r.data)) for r in rows]

    def request_facts(self, request_ids: Sequence[str]) -> dict[str, RequestFacts]:
        """The tool and the requester of each request, by id."""
        wanted = list(dict.fromkeys(request_ids))
        if not wanted:
            return {}
        requests = table(RequestRow).c
        with self.db.session() as session:
            rows = session.execute(
                core_select(requests.id, requests.tool, requests.requested_by).where(requests.id.in_(wanted))
            ).all()
        return {r.id: RequestFacts(r.tool, r.requested_by) for r in rows}

    def thread_requesters(self, thread_ids: Sequence[str]) -> dict[str, str]:
        wanted = list(dict.fromkeys(thread_ids))
        if not wanted:
            return {}
        threads = table(ThreadRow).c
        with self.db.session() as session:
            rows = session.execute(core_select(threads.id, threads.requested_by).where(threads.id.in_(wanted))).all()
        return {r.id: r.requested_by for r in rows}
