"""Appending to a thread's event log, and keeping what is derived from it in the same transaction.

An append writes the events, the thread's status and sequence number, the human requests the
events open or close, and the outbox rows (messages for people) they cause: all or nothing. Every
aggregate that changes a thread (a step, a decision, a delivery note) appends through here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, update
from sqlalchemy import select as core_select
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session

from agent import thread as t
from agent.events import (
    ApprovalDecided,
    ApprovalEdited,
    ApprovalProgress,
    ApprovalRequested,
    DecisionIdentity,
    Event,
    GrantUsed,
    QuestionAnswered,
    QuestionAsked,
    RequestEscalated,
    RequestExpired,
    voter_key,
)
from agent.places import COPY_UPDATE, updates_for
from storage._sql import event_values, insert_row, table
from storage._timers import schedule_timers
from storage.audit_chain import append_to_chain
from storage.home_tabs import mark_home_tabs
from storage.models import EventRow, OutboxRow, RequestRow, ThreadRow, utcnow
from storage.status import STANDALONE_AGENT, WEBHOOK_AGENT, RequestKind, RequestStatus, ThreadStatus


@dataclass(frozen=True)
class OutboxDraft:
    """A message for people that an append causes; written with the events, sent afterwards."""

    channel: str
    kind: str
    request_id: str | None = None
    text: str = ""


def append_events(session: Session, row: ThreadRow, events: Sequence[Event], outbox: Sequence[OutboxDraft]) -> None:
    """Append to a thread whose row the caller read in this transaction (for update)."""
    now = utcnow()
    seq = row.last_seq
    values = []
    for event in events:
        seq += 1
        values.append(event_values(row.id, seq, event, now))
        _index_request(session, row, event, now)
    if values:
        session.execute(insert(table(EventRow)), values)
    touched = [str(r) for e in events if (r := getattr(e, "request_id", None))]
    if touched:  # the Slack Home tabs of the people these requests concern show them afresh
        mark_home_tabs(session, row, touched, now)
    changes: dict[str, Any] = {"last_seq": seq, "updated_at": now}
    last = t.last_agent_event(events)
    if last is not None:  # notes alone (a failed delivery) leave the status as it is
        requests = table(RequestRow).c
        pending = core_select(func.count()).where(
            requests.thread_id == row.id, requests.status == RequestStatus.PENDING
        )
        has_pending = session.execute(pending).scalar_one() > 0
        changes["status"] = t.status_from(has_pending=has_pending, last=last)
        if row.agent == STANDALONE_AGENT:  # no agent runs on it: it waits, then it is done
            changes["status"] = ThreadStatus.WAITING if has_pending else ThreadStatus.DONE
        elif row.agent == WEBHOOK_AGENT:  # its agent lives elsewhere: the thread waits on it
            changes["status"] = ThreadStatus.WAITING
    threads = table(ThreadRow)
    session.execute(update(threads).where(threads.c.id == row.id).values(**changes))
    for key, value in changes.items():  # written above: the row (possibly the session's) says so
        set_committed_value(row, key, value)
    outbox = [*outbox, *_copy_updates(session, events)]
    if outbox:
        session.execute(
            insert(table(OutboxRow)),
            [
                OutboxRow(
                    thread_id=row.id,
                    channel=draft.channel,
                    kind=draft.kind,
                    request_id=draft.request_id,
                    text=draft.text,
                    next_attempt_at=now,
                    created_at=now,
                ).model_dump(exclude={"id"})
                for draft in outbox
            ],
        )
    # Last, so that on PostgreSQL the chain's lock is held only from here to the commit.
    append_to_chain(session, row.id, [(v["seq"], e, v["data"], now) for v, e in zip(values, events, strict=True)])


def _copy_updates(session: Session, events: Sequence[Event]) -> list[OutboxDraft]:
    """What brings a request's copies elsewhere up to date (agent/places.py): written with the
    event that changed it, whatever recorded that event (a click, a mail, the clock, the API)."""
    asked_now = {e.request_id for e in events if isinstance(e, ApprovalRequested | QuestionAsked)}
    about = {str(r) for e in events if (r := getattr(e, "request_id", None)) and r not in asked_now}
    if not about:
        return []
    requests = table(RequestRow).c
    copies = {
        request_id: places
        for request_id, places in session.execute(
            core_select(requests.id, requests.copies).where(requests.id.in_(sorted(about)))
        )
        if places
    }
    return [
        OutboxDraft(channel, COPY_UPDATE, request_id=request_id, text=place)
        for e in events
        if (request_id := getattr(e, "request_id", None)) in copies
        for channel, place in updates_for(e, copies[request_id])
    ]


def _index_request(session: Session, thread: ThreadRow, event: Event, now: datetime) -> None:
    """The `requests` table: one row per human request, opened and closed by the thread's events."""
    requests = table(RequestRow)
    if isinstance(event, ApprovalRequested):
        insert_row(
            session,
            RequestRow(
                id=event.request_id,
                thread_id=thread.id,
                kind=RequestKind.APPROVAL,
                call_id=event.call_id,
                tool=event.tool,
                arguments=dict(event.arguments),
                digest=event.digest,
                reason=event.reason,
                allowed=list(event.approvers),
                requested_by=thread.requested_by,
                created_at=now,
                required=event.required,
                approvals=[],
                no_self_approval=event.no_self_approval,
                rule=event.rule,
                edit_schema=event.edit_schema,
                copies=list(event.copies) or None,
                deny_options=[o.model_dump() for o in event.deny_options] or None,
            ),
        )
        schedule_timers(session, thread.id, event, now)
    elif isinstance(event, QuestionAsked):
        insert_row(
            session,
            RequestRow(
                id=event.request_id,
                thread_id=thread.id,
                kind=RequestKind.QUESTION,
                question=event.question,
                options=list(event.options),
                allowed=list(event.answerers),
                requested_by=thread.requested_by,
                created_at=now,
                allow_free_text=event.allow_free_text,
                copies=list(event.copies) or None,
            ),
        )
        schedule_timers(session, thread.id, event, now)
    elif isinstance(event, RequestEscalated):
        # Those escalated to may decide from now on, on every surface (the allowed check reads this).
        row = session.execute(
            core_select(requests.c.allowed).where(requests.c.id == event.request_id, requests.c.thread_id == thread.id)
        ).first()
        if row is not None and row[0]:  # an empty list lets anyone answer: escalating keeps that
            allowed = list(dict.fromkeys([*row[0], *event.to]))
            session.execute(
                update(requests)
                .where(requests.c.id == event.request_id, requests.c.status == RequestStatus.PENDING)
                .values(allowed=allowed)
            )
    elif isinstance(event, ApprovalEdited):
        # What runs from now on; the request's event and this one keep both versions.
        session.execute(
            update(requests)
            .where(
                requests.c.id == event.request_id,
                requests.c.thread_id == thread.id,
                requests.c.status == RequestStatus.PENDING,
            )
            .values(arguments=dict(event.arguments), digest=event.digest)
        )
    elif isinstance(event, ApprovalProgress):
        row = session.execute(
            core_select(requests.c.approvals).where(
                requests.c.id == event.request_id, requests.c.thread_id == thread.id
            )
        ).first()
        if row is not None:
            counted = [*(row[0] or []), approval_entry(event.by, event.identity, now)]
            session.execute(
                update(requests)
                .where(requests.c.id == event.request_id, requests.c.status == RequestStatus.PENDING)
                .values(approvals=counted)
            )
    elif isinstance(event, (ApprovalDecided, QuestionAnswered, RequestExpired, GrantUsed)):
        outcome: dict[str, Any]
        if isinstance(event, GrantUsed):  # decided by a standing grant, recorded as its giver's approval
            outcome = {
                "status": RequestStatus.APPROVED,
                "comment": f"allowed by {event.by}'s grant {event.grant_id}, until {event.until}",
            }
        elif isinstance(event, ApprovalDecided):
            status = RequestStatus.APPROVED if event.approved else RequestStatus.DENIED
            outcome = {"status": status, "comment": event.comment}
            if event.deny_option is not None:
                outcome["deny_option"] = event.deny_option
            if event.approved and event.approvals:
                outcome["approvals"] = [approval_entry(i.subject, i, now) for i in event.approvals]
        elif isinstance(event, RequestExpired):
            outcome = {"status": RequestStatus.EXPIRED}
        else:
            outcome = {"status": RequestStatus.ANSWERED, "comment": event.answer}
        session.execute(
            update(requests)
            # Only a request of this thread: a decision must never close another thread's request.
            .where(
                requests.c.id == event.request_id,
                requests.c.thread_id == thread.id,
                requests.c.status == RequestStatus.PENDING,
            )
            .values(**outcome, decided_by=event.by, decided_at=now)
        )


def approval_entry(by: str, identity: DecisionIdentity | None, now: datetime) -> dict[str, Any]:
    """One approval counted toward N of M, as the request row keeps it."""
    return {
        "by": by,
        "person": identity.person if identity else None,
        "person_id": identity.person_id if identity else None,
        "voter": identity.voter if identity else voter_key(by, None),
        "at": identity.at if identity and identity.at else now.isoformat(),
        "identity": identity.model_dump(mode="json") if identity else None,
    }
