"""Standing grants: given with an approval, used instead of asking, revoked.

A use is recorded in the transaction that appends the gated call's request: the grant's row is
updated only while it is unrevoked and unexpired (`UPDATE ... WHERE revoked_at IS NULL AND
expires_at > now`), and the `grant_used` event is appended only when that UPDATE changed the row.
A revocation is the same row's UPDATE, so on PostgreSQL the two queue on the row's lock: a call
racing a revocation either used the grant before it was revoked, or asks a human. Never both.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import or_, update
from sqlalchemy import select as core_select
from sqlmodel import Session

from agent.events import ApprovalRequested, Event, GrantUsed
from agent.grants import GrantTerms, covers
from storage._sql import insert_row, row_by_id, table, thread_row
from storage.db import Database
from storage.errors import Conflict
from storage.event_log import OutboxDraft, append_events
from storage.models import GrantRow, ThreadRow, utcnow


class RevokeStatus(StrEnum):
    REVOKED = "revoked"
    ALREADY = "already_revoked"  # revoked before, or expired: it covers nothing either way
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class GrantUse:
    """Who the thread's requester is, for the rule that nobody's grant covers their own requests."""

    agent: str
    requester_voter: str | None


@dataclass(frozen=True)
class GrantDraft:
    """A grant asked for with an approval: recorded with it, in its transaction, or not at all."""

    grant_id: str
    agent: str
    terms: GrantTerms
    identities: tuple[str, ...]


def new_grant_id() -> str:
    return "g_" + uuid.uuid4().hex[:20]


def insert_grant(
    session: Session,
    *,
    grant_id: str,
    agent: str,
    tool: str,
    terms: GrantTerms,
    request_id: str,
    given_by: str,
    given_by_voter: str,
    identities: Sequence[str],
    now: datetime,
) -> GrantRow:
    row = GrantRow(
        id=grant_id,
        agent=agent,
        tool=tool,
        scope=terms.scope,
        thread_id=terms.thread_id,
        digest=terms.digest,
        match=dict(terms.match),
        request_id=request_id,
        given_by=given_by,
        given_by_voter=given_by_voter,
        identities=sorted({_ascii_lower(i) for i in identities if i}),
        created_at=now,
        expires_at=terms.until,
    )
    insert_row(session, row)
    return row


def use_grant(
    session: Session, thread: ThreadRow, request: ApprovalRequested, use: GrantUse, now: datetime
) -> GrantUsed | None:
    """The grant that covers this gated call, used (its row updated while still valid), as the
    event that records the use; None when no grant covers it now."""
    if request.rerun_of is not None or request.required > 1:
        return None  # a call whose outcome is unknown, or one needing several approvers: people decide
    grants = table(GrantRow).c
    candidates = session.execute(
        core_select(table(GrantRow))
        .where(
            grants.agent == use.agent,
            grants.tool == request.tool,
            grants.revoked_at.is_(None),
            grants.expires_at > now,
            or_(grants.thread_id.is_(None), grants.thread_id == thread.id),
            or_(grants.digest.is_(None), grants.digest == request.digest),
        )
        .order_by(grants.created_at)
        .limit(50)
    ).all()
    allowed = {_ascii_lower(a) for a in request.approvers}
    for found in candidates:
        grant = GrantRow(**found._mapping)
        if not covers(grant.match, request.arguments):
            continue
        if use.requester_voter is not None and grant.given_by_voter == use.requester_voter:
            continue  # nobody's grant approves their own requests
        if allowed and not allowed & set(grant.identities):
            continue  # the giver may no longer approve this call (its policy names others now)
        changed = session.execute(
            update(table(GrantRow))
            .where(grants.id == grant.id, grants.revoked_at.is_(None), grants.expires_at > now)
            .values(uses=grants.uses + 1, last_used_at=now)
        )
        if changed.rowcount == 1:  # type: ignore[attr-defined]
            return GrantUsed(
                request_id=request.request_id,
                call_id=request.call_id,
                grant_id=grant.id,
                by=grant.given_by,
                until=grant.expires_at.isoformat(),
                digest=request.digest,
                scope=grant.scope,
            )
    return None


class StandingGrants:
    db: Database

    def append_granted(
        self,
        thread_id: str,
        events: Sequence[Event],
        *,
        use: GrantUse,
        outbox: Callable[[Sequence[Event]], Sequence[OutboxDraft]],
        expect_seq: int | None = None,
        lease_owner: str | None = None,
    ) -> tuple[ThreadRow, list[Event]]:
        """Append a step's events, each gated call's request followed by `grant_used` where a grant
        covers it now: one transaction. Returns the row and the events recorded."""
        with self.db.write() as session:
            row = thread_row(session, thread_id, for_update=True)
            if expect_seq is not None and row.last_seq != expect_seq:
                raise Conflict(f"thread {thread_id} moved from seq {expect_seq} to {row.last_seq}")
            if lease_owner is not None and row.lease_owner != lease_owner:
                raise Conflict(f"thread {thread_id}: lease lost to {row.lease_owner}")
            now = utcnow()
            recorded: list[Event] = []
            for event in events:
                recorded.append(event)
                if isinstance(event, ApprovalRequested):
                    used = use_grant(session, row, event, use, now)
                    if used is not None:
                        recorded.append(used)
            append_events(session, row, recorded, outbox(recorded))
            return row, recorded

    def grant_given_with(self, request_id: str) -> GrantRow | None:
        """The standing grant given with the approval of this request, if one was."""
        grants = table(GrantRow).c
        with self.db.session() as session:
            found = session.execute(core_select(table(GrantRow)).where(grants.request_id == request_id)).first()
            return GrantRow(**found._mapping) if found is not None else None

    def get_grant(self, grant_id: str) -> GrantRow | None:
        with self.db.session() as session:
            return row_by_id(session, GrantRow, grant_id)

    def list_grants(self, *, active: bool = True, tool: str | None = None, limit: int = 100) -> list[GrantRow]:
        """Grants, newest first; `active`: only those unrevoked and unexpired now."""
        grants = table(GrantRow).c
        query = core_select(table(GrantRow)).order_by(grants.created_at.desc()).limit(limit)
        if active:
            query = query.where(grants.revoked_at.is_(None), grants.expires_at > utcnow())
        if tool:
            query = query.where(grants.tool == tool)
        with self.db.session() as session:
            return [GrantRow(**r._mapping) for r in session.execute(query).all()]

    def revoke_grant(self, grant_id: str, *, by: str) -> tuple[RevokeStatus, GrantRow | None]:
        """Revoke a grant at once: the next call it would have covered asks a human."""
        grants = table(GrantRow).c
        with self.db.write() as session:
            now = utcnow()
            changed = session.execute(
                update(table(GrantRow))
                .where(grants.id == grant_id, grants.revoked_at.is_(None))
                .values(revoked_at=now, revoked_by=by)
            )
            row = row_by_id(session, GrantRow, grant_id)
            if row is None:
                return RevokeStatus.UNKNOWN, None
            return (RevokeStatus.REVOKED if changed.rowcount == 1 else RevokeStatus.ALREADY), row  # type: ignore[attr-defined]


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _ascii_lower(text: str) -> str:
    return text.strip().translate(_ASCII_LOWER)
