"""Human requests (approvals and questions): read them, and record the one decision that wins."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlmodel import col, select

from agent import thread as t
from agent.events import ApprovalDecided, Event, QuestionAnswered
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
        outbox: Sequence[OutboxDraft] | Callable[[ThreadRow], Sequence[OutboxDraft]] = (),
        bind_digest: bool = False,
    ) -> DecisionResult:
        """Record a human's decision or answer; the first valid one wins, atomically.

        `identities` are other names the person holds (e.g. their Slack user groups), checked
        against the allowed list alongside `event.by`. `bind_digest` binds an approval to what the
        request shows now: its digest is that of the request's tool and arguments, read in this
        transaction. `outbox` may be a function of the thread, when the messages depend on where
        the thread came from.
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
            # ASCII case only: str.lower folds look-alikes (the Kelvin sign into `k`) into the real thing.
            held = {_ascii_lower(event.by), *(_ascii_lower(i) for i in identities)}
            if allowed_check and request.allowed and not held & {_ascii_lower(a) for a in request.allowed}:
                return DecisionResult(DecisionStatus.NOT_ALLOWED, request)
            if isinstance(event, ApprovalDecided) and event.approved and event.digest not in ("", request.digest):
                return DecisionResult(DecisionStatus.CHANGED, request)
            if receipt_key is not None and not insert_receipt(session, receipt_key, request.thread_id):
                return DecisionResult(DecisionStatus.DUPLICATE, request)
            thread = thread_row(session, request.thread_id, for_update=True)
            append_events(session, thread, [event], outbox(thread) if callable(outbox) else outbox)
            return DecisionResult(DecisionStatus.ACCEPTED, request_row(session, request_id), thread, [event])


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _ascii_lower(identity: str) -> str:
    return identity.translate(_ASCII_LOWER)
