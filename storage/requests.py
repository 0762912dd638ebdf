"""Human requests (approvals and questions): read them, and record the one decision that wins."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import col, select

from agent import thread as t
from agent.events import (
    ApprovalDecided,
    ApprovalEdited,
    ApprovalProgress,
    DecisionIdentity,
    Event,
    GrantGiven,
    ProofMethod,
    QuestionAnswered,
    voter_key,
)
from agent.policy import allows
from storage._sql import insert_receipt, request_row, thread_row
from storage.db import Database
from storage.event_log import OutboxDraft, append_events
from storage.grants import GrantDraft, insert_grant
from storage.models import RequestRow, ThreadRow, utcnow
from storage.people import people_in
from storage.people_models import PersonRow
from storage.status import DecisionStatus, RequestKind, RequestStatus

Decider = ApprovalDecided | QuestionAnswered


@dataclass(frozen=True)
class Identified:
    """Who decides, as `Requests.resolve`'s `identify` tells it: the event stamped with their proven
    identity, the other names their directory entry holds, and the voter key of whoever asked."""

    event: Decider
    holds: Sequence[str]
    requester: str | None


# Given the request (read for update) and the people known by the decider's and the requester's
# names, read in the same transaction: who decides (see `Identified`).
Identify = Callable[[RequestRow, dict[str, PersonRow]], Identified]


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

    def request_and_people(
        self, request_id: str, names: Sequence[str]
    ) -> tuple[RequestRow | None, dict[str, PersonRow]]:
        """A request, and the people known by `names` and by its requester's name, in one read:
        what a decision needs to know before it is recorded (who decides, who asked)."""
        with self.db.session() as session:
            request = request_row(session, request_id)
            return request, people_in(session, [*names, request.requested_by if request else ""])

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
        grant: GrantDraft | None = None,
        edited: dict[str, Any] | None = None,
        edited_from: str | None = None,
        identify: Identify | None = None,
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

        `grant`: a standing grant asked for with an approval; recorded (its row and a `grant_given`
        note) only with an approval that decides the request, never with a count toward N of M.
        `edited`: the arguments an approver approves instead of the request's (checked against its
        `edit_schema` by the caller), made from the request as it was at `edited_from` (its digest).
        Recorded as `approval_edited` before the approval, which is bound to the new digest. Refused
        (`not_editable`) on a request that takes no edits or once an approval is counted toward N of M.
        `identify`: who decides, from the request and the people it and `event.by` name, read in this
        transaction (instead of `identities` and `requester` found by a read before it).
        """
        with self.db.write() as session:
            request = request_row(session, request_id, for_update=True)
            if request is None:
                return DecisionResult(DecisionStatus.UNKNOWN)
            if identify is not None:
                who = identify(request, people_in(session, [event.by, request.requested_by]))
                event, identities, requester = who.event, [*identities, *who.holds], who.requester
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
            before: list[Event] = []
            if edited is not None and isinstance(event, ApprovalDecided):
                if not event.approved or request.edit_schema is None or request.approvals:
                    return DecisionResult(DecisionStatus.NOT_EDITABLE, request)
                if edited_from is not None and edited_from != request.digest:
                    return DecisionResult(DecisionStatus.CHANGED, request)
                digest = t.arguments_digest(request.tool or "", edited)
                if digest != request.digest:
                    before.append(
                        ApprovalEdited(
                            request_id=request.id,
                            call_id=request.call_id or "",
                            tool=request.tool or "",
                            by=event.by,
                            arguments=edited,
                            digest=digest,
                            previous_arguments=dict(request.arguments),
                            previous_digest=request.digest or "",
                            identity=event.identity,
                        )
                    )
                    event = event.model_copy(update={"digest": digest})
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
            if grant is not None and not (isinstance(recorded, ApprovalDecided) and recorded.approved and request.tool):
                return DecisionResult(DecisionStatus.GRANT_REFUSED, request)
            if receipt_key is not None and not insert_receipt(session, receipt_key, request.thread_id):
                return DecisionResult(DecisionStatus.DUPLICATE, request)
            given: list[Event] = []
            if grant is not None and isinstance(recorded, ApprovalDecided) and request.tool:
                voter = recorded.identity.voter if recorded.identity else voter_key(recorded.by, None)
                row = insert_grant(
                    session,
                    grant_id=grant.grant_id,
                    agent=grant.agent,
                    tool=request.tool,
                    terms=grant.terms,
                    request_id=request.id,
                    given_by=recorded.by,
                    given_by_voter=voter,
                    identities=[recorded.by, *grant.identities],
                    now=utcnow(),
                )
                given.append(
                    GrantGiven(
                        grant_id=row.id,
                        request_id=request.id,
                        tool=row.tool,
                        scope=row.scope,
                        until=row.expires_at.isoformat(),
                        by=recorded.by,
                        identity=recorded.identity,
                        digest=row.digest or "",
                        match=dict(row.match),
                    )
                )
            thread = thread_row(session, request.thread_id, for_update=True)
            written = [*before, recorded, *given]
            append_events(session, thread, written, outbox(thread, written) if callable(outbox) else outbox)
            return DecisionResult(status, request_row(session, request_id), thread, written)


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
