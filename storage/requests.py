"""Human requests (approvals and questions): read them, and record the one decision that wins."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import col, select

from agent import thread as t
from agent.events import (
    ApprovalDecided,
    ApprovalProgress,
    DecisionIdentity,
    Event,
    ProofMethod,
    QuestionAnswered,
    voter_key,
)
from agent.policy import allows
from storage._sql import insert_receipt, request_row, thread_row
from storage.db import Database
from storage.event_log import OutboxDraft, append_events
from storage.models import RequestRow, ThreadRow
from storage.status import DecisionStatus, RequestKind, RequestStatus


@dataclass(frozen=True)
class DecisionResult:
    status: DecisionStatus
    request: RequestRow | None = None
    thread: ThreadRow | None = None
    events: list[Event] = field(default_factory=list)


class Requests:
    db: Database

    def get_request(self, request_id: str) -> RequestRow | None:
        with self.db.session() as session:
            return request_row(session, request_id)

    def list_requests(
        self, *, status: str | None = None, thread_id: str | None = None, limit: int = 100
    ) -> list[RequestRow]:
        with self.db.session() as session:
            query = select(RequestRow).order_by(col(RequestRow.created_at)).limit(limit)
            if status:
                query = query.where(RequestRow.status == status)
            if thread_id:
                query = query.where(RequestRow.thread_id == thread_id)
            return list(session.exec(query))

    def resolve(
        self,
        request_id: str,
        event: ApprovalDecided | QuestionAnswered,
        *,
        allowed_check: bool = True,
        identities: Sequence[str] = (),
        receipt_key: str | None = None,
        outbox: Sequence[OutboxDraft] | Callable[[ThreadRow, Sequence[Event]], Sequence[OutboxDraft]] = (),
        bind_digest: bool = False,
        requester: str | None = None,
    ) -> DecisionResult:
        """Record a human's decision or answer; the first valid one wins, atomically.

        `identities` are other names the person holds (e.g. their Slack user groups), checked
        against the allowed list alongside `event.by`. `bind_digest` binds an approval to what the
        request shows now: its digest is that of the request's tool and arguments, read in this
        transaction. `outbox` may be a function of the thread and the events recorded, when the
        messages depend on where the thread came from.

        The request's policy holds here, atomically: under no-self-approval an approval whose voter
        (`event.identity.voter`, one key per person) is `requester`'s is refused; with `required`
        > 1 an approval is counted (`approval_progress`) until the count is reached, then it is the
        decision (`approval_decided` listing every counted approval); the same voter counts once;
        one denial decides.
        """
        with self.db.write() as session:
            request = request_row(session, request_id, for_update=True)
            if request is None:
                return DecisionResult(DecisionStatus.UNKNOWN)
            if bind_digest and isinstance(event, ApprovalDecided):
                shown = t.arguments_digest(request.tool, dict(request.arguments)) if request.tool else ""
                event = event.model_copy(update={"digest": shown})
            expected_kind = RequestKind.APPROVAL if isinstance(event, ApprovalDecided) else RequestKind.QUESTION
            if request.kind != expected_kind:
                return DecisionResult(DecisionStatus.INVALID, request)
            if request.status != RequestStatus.PENDING:
                return DecisionResult(DecisionStatus.ALREADY_DECIDED, request)
            if allowed_check and not allows(request.allowed, [event.by, *identities]):
                return DecisionResult(DecisionStatus.NOT_ALLOWED, request)
            if isinstance(event, ApprovalDecided) and event.approved and event.digest not in ("", request.digest):
                return DecisionResult(DecisionStatus.CHANGED, request)
            recorded: Event = event
            status = DecisionStatus.ACCEPTED
            if isinstance(event, ApprovalDecided) and event.approved:
                voter = event.identity.voter if event.identity else voter_key(event.by, None)
                if request.no_self_approval and requester is not None and voter == requester:
                    return DecisionResult(DecisionStatus.SELF_APPROVAL, request)
                counted = list(request.approvals or [])
                if any(a.get("voter") == voter for a in counted):
                    return DecisionResult(DecisionStatus.ALREADY_APPROVED, request)
                if len(counted) + 1 < request.required:
                    status = DecisionStatus.PROGRESS
                    recorded = ApprovalProgress(
                        request_id=request.id,
                        by=event.by,
                        count=len(counted) + 1,
                        required=request.required,
                        identity=event.identity,
                        digest=event.digest,
                    )
                elif counted:
                    earlier = [_identity_of(a) for a in counted]
                    recorded = event.model_copy(
                        update={"approvals": [*earlier, *([event.identity] if event.identity else [])]}
                    )
            if receipt_key is not None and not insert_receipt(session, receipt_key, request.thread_id):
                return DecisionResult(DecisionStatus.DUPLICATE, request)
            thread = thread_row(session, request.thread_id, for_update=True)
            append_events(session, thread, [recorded], outbox(thread, [recorded]) if callable(outbox) else outbox)
            return DecisionResult(status, request_row(session, request_id), thread, [recorded])


def _identity_of(entry: dict[str, Any]) -> DecisionIdentity:
    """An approval counted earlier (a request row's `approvals` entry) as an identity, for the decision."""
    stored = entry.get("identity")
    if isinstance(stored, dict):
        return DecisionIdentity.model_validate(stored)
    return DecisionIdentity(
        subject=str(entry.get("by") or ""),
        method=ProofMethod.SYSTEM,
        channel="",
        person_id=entry.get("person_id"),
        person=entry.get("person"),
        at=str(entry.get("at") or ""),
    )
