"""Standalone human requests: an approval or a question asked through the API by a program with no
agent here (`POST /api/approvals`, `POST /api/questions`).

Each one lives on a thread of its own (`threads.agent` = `STANDALONE_AGENT`) whose first event is
the request (`approval_requested` or `question_asked`), so the `requests` row, the cards and mails
(outbox rows per channel), the replies and clicks that decide it, the one decision that wins and the
thread's audit trail are the agents' own paths. No agent ever runs on such a thread: its status is
`waiting`, then `done` (`event_log.append_events`). What only a standalone request has is kept in
`standalone_requests`: the token that made it (only it may read it), its idempotency key, the
channels it went to, its deadline and the URL its outcome is posted to. The outcome's POST is an
outbox row of its own (channel `callback`), written in the transaction that decides the request.
Its deadline is an expire timer like an agent's request's (`expire_after` on its first event,
storage/timers.py): the one clock closes it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select as core_select
from sqlalchemy import update
from sqlmodel import Session, col, select

from agent import edits
from agent import thread as t
from agent.events import ApprovalRequested, DenyOption, Event, QuestionAsked, RequestEscalated, parse_event
from storage._sql import insert_receipt, insert_row, request_row, table, thread_row
from storage.db import Database
from storage.event_log import OutboxDraft, append_events
from storage.models import EventRow, RequestRow, StandaloneRow, ThreadRow, utcnow
from storage.status import STANDALONE_AGENT, RequestKind, RequestStatus
from storage.timer_models import RequestTimerRow

CALLBACK_CHANNEL = "callback"


@dataclass(frozen=True)
class StandaloneSpec:
    """What a program asks: an approval of `action` with `arguments`, or a `question`."""

    kind: RequestKind
    creator: str
    allowed: list[str]
    channels: list[str]
    requested_by: str
    action: str = ""
    arguments: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    question: str = ""
    options: list[str] = field(default_factory=list)
    origin_data: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None
    callback_url: str | None = None
    callback_secret: str | None = None
    expires_at: datetime | None = None
    external: dict[str, Any] | None = None
    # An approver may change the arguments before approving (the program runs what comes back);
    # a question's answer may be none of its options.
    editable: bool = False
    allow_free_text: bool = True
    deny_options: tuple[DenyOption, ...] = ()
    required: int = 1  # N of M: distinct approvals needed

    def fingerprint(self) -> str:
        """What a retry with the same idempotency key must ask again."""
        if self.kind == RequestKind.APPROVAL:
            return t.arguments_digest(self.action, self.arguments)
        return t.arguments_digest("?", {"question": self.question, "options": self.options})


@dataclass(frozen=True)
class Created:
    standalone: StandaloneRow
    request: RequestRow
    created: bool  # False: a retry with an idempotency key already used, answered with the first request
    same: bool = True  # False: that key was used for a different request


def outcome_outbox(thread: ThreadRow, request_id: str) -> list[OutboxDraft]:
    """The messages a standalone request's outcome causes: the card or mail updated on each channel
    it went to, and the POST to its callback URL, if it has one."""
    channels = [c for c in thread.origin_data.get("channels", []) if isinstance(c, str)]
    drafts = [OutboxDraft(channel, "decision", request_id=request_id) for channel in channels]
    if thread.origin_data.get("callback"):
        drafts.append(OutboxDraft(CALLBACK_CHANNEL, "callback", request_id=request_id))
    return drafts


def _fingerprint(session: Session, request: RequestRow) -> str:
    if request.kind == RequestKind.APPROVAL:
        # As asked: an approver's edit changes the row's digest, not what the program asked for.
        events = table(EventRow).c
        first = session.execute(
            core_select(events.data).where(events.thread_id == request.thread_id, events.seq == 1)
        ).scalar_one_or_none()
        asked = parse_event(first) if first is not None else None
        return asked.digest if isinstance(asked, ApprovalRequested) else request.digest or ""
    return t.arguments_digest("?", {"question": request.question, "options": list(request.options)})


class Standalone:
    db: Database

    def create_standalone(self, spec: StandaloneSpec) -> Created:
        """The request, its thread and its first messages, in one transaction; with an idempotency
        key already used by the same creator, nothing is written and the first request comes back."""
        request_id = uuid.uuid4().hex
        now = utcnow()
        with self.db.write() as session:
            thread = ThreadRow(
                id=uuid.uuid4().hex,
                agent=STANDALONE_AGENT,
                status="waiting",
                origin_channel="standalone",
                origin_data={
                    **spec.origin_data,
                    "channels": list(spec.channels),
                    "callback": bool(spec.callback_url),
                },
                requested_by=spec.requested_by,
                created_at=now,
                updated_at=now,
            )
            if spec.idempotency_key is not None:
                key = f"standalone:{spec.creator}:{spec.idempotency_key}"
                if not insert_receipt(session, key, thread.id):
                    existing = session.exec(
                        select(StandaloneRow).where(
                            StandaloneRow.creator == spec.creator, StandaloneRow.idempotency_key == spec.idempotency_key
                        )
                    ).one()
                    first = request_row(session, existing.request_id)
                    assert first is not None
                    same = _fingerprint(session, first) == spec.fingerprint()
                    return Created(existing, first, created=False, same=same)
            insert_row(session, thread)
            expire_after = (spec.expires_at - now).total_seconds() if spec.expires_at is not None else None
            first_event: Event
            if spec.kind == RequestKind.APPROVAL:
                first_event = ApprovalRequested(
                    request_id=request_id,
                    call_id=request_id,
                    tool=spec.action,
                    arguments=dict(spec.arguments),
                    digest=t.arguments_digest(spec.action, dict(spec.arguments)),
                    reason=spec.reason,
                    approvers=list(spec.allowed),
                    expire_after=expire_after,
                    edit_schema=edits.infer_schema(spec.arguments) if spec.editable else None,
                    deny_options=list(spec.deny_options),
                    required=spec.required,
                )
                kind = "approval_request"
            else:
                first_event = QuestionAsked(
                    request_id=request_id,
                    question=spec.question,
                    options=list(spec.options),
                    answerers=spec.allowed,
                    expire_after=expire_after,
                    allow_free_text=spec.allow_free_text or not spec.options,
                )
                kind = "question"
            drafts = [OutboxDraft(channel, kind, request_id=request_id) for channel in spec.channels]
            append_events(session, thread, [first_event], drafts)
            if spec.expires_at is not None:  # exactly the deadline the API answers with
                timers = table(RequestTimerRow)
                session.execute(
                    update(timers)
                    .where(timers.c.request_id == request_id, timers.c.kind == "expire")
                    .values(due_at=spec.expires_at)
                )
            row = StandaloneRow(
                request_id=request_id,
                thread_id=thread.id,
                creator=spec.creator,
                idempotency_key=spec.idempotency_key,
                channels=list(spec.channels),
                callback_url=spec.callback_url,
                callback_secret=spec.callback_secret,
                expires_at=spec.expires_at,
                external=spec.external,
                created_at=now,
            )
            insert_row(session, row)
            request = request_row(session, request_id)
            assert request is not None
            return Created(row, request, created=True)

    def get_standalone(self, request_id: str) -> tuple[StandaloneRow, RequestRow] | None:
        with self.db.session() as session:
            row = session.get(StandaloneRow, request_id)
            request = request_row(session, request_id) if row is not None else None
            return (row, request) if row is not None and request is not None else None

    def standalone_by_key(self, creator: str, idempotency_key: str) -> tuple[StandaloneRow, RequestRow] | None:
        with self.db.session() as session:
            row = session.exec(
                select(StandaloneRow).where(
                    StandaloneRow.creator == creator, StandaloneRow.idempotency_key == idempotency_key
                )
            ).first()
            request = request_row(session, row.request_id) if row is not None else None
            return (row, request) if row is not None and request is not None else None

    def escalate_standalone(self, request_id: str, to: Sequence[str], *, message: str, by: str) -> str:
        """Escalate a pending request by email to `to` (HumanLayer's `escalate_email`): a
        `request_escalated` event on its thread (they may decide from now on) and their mail, in one
        transaction. `escalated`, or `decided` when it no longer waits (nothing is written)."""
        with self.db.write() as session:
            request = request_row(session, request_id, for_update=True)
            if request is None or request.status != RequestStatus.PENDING:
                return "decided"
            thread = thread_row(session, request.thread_id, for_update=True)
            event = RequestEscalated(request_id=request_id, to=list(to), by=by, message=message)
            # A clock message's text (channels.base.clock_people, clock_note): its people and the note.
            text = json.dumps({"people": list(to), "note": message})
            draft = OutboxDraft("email", "escalation", request_id=request_id, text=text)
            append_events(session, thread, [event], [draft])
            return "escalated"

    def decided_among(self, request_ids: Sequence[str]) -> list[str]:
        """Which of these requests are no longer pending (one query, for every long poll at once)."""
        if not request_ids:
            return []
        with self.db.session() as session:
            return list(
                session.exec(
                    select(RequestRow.id).where(
                        col(RequestRow.id).in_(list(request_ids)), RequestRow.status != RequestStatus.PENDING
                    )
                )
            )
