"""Standing grants as operators and approvers see them: listed, and revoked by who may.

A grant may be revoked by the person who gave it, by anyone who may approve its tool, and by an
operator at the console (`signoff grants revoke`). The next call it would have covered asks a human.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from agent.definition import Agent
from bot.identity import expand, held_by, voter
from storage.async_store import AsyncStore
from storage.grants import RevokeStatus
from storage.models import GrantRow, utcnow
from storage.people_models import PersonRow


@dataclass(frozen=True)
class RevokeOutcome:
    status: Literal["revoked", "already_revoked", "unknown", "not_allowed"]
    grant: GrantRow | None
    message: str


def grant_state(row: GrantRow, now: datetime) -> str:
    if row.revoked_at is not None:
        return "revoked"
    return "active" if row.expires_at > now else "expired"


def grant_json(row: GrantRow, now: datetime | None = None) -> dict[str, Any]:
    return {
        "id": row.id,
        "state": grant_state(row, now or utcnow()),
        "tool": row.tool,
        "scope": row.scope,
        "thread_id": row.thread_id,
        "digest": row.digest,
        "match": row.match,
        "given_by": row.given_by,
        "request_id": row.request_id,
        "created_at": row.created_at.isoformat(),
        "until": row.expires_at.isoformat(),
        "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
        "revoked_by": row.revoked_by,
        "uses": row.uses,
        "last_used_at": row.last_used_at.isoformat() if row.last_used_at else None,
    }


async def revoke(
    storage: AsyncStore,
    agents: Mapping[str, Agent],
    grant_id: str,
    *,
    by: str,
    person: PersonRow | None,
    operator: bool = False,
    identities: list[str] | None = None,
) -> RevokeOutcome:
    """Revoke a grant as `by` (whose directory entry is `person`); `operator`: at the console.
    Who else may: its giver, or an approver of its tool as the grant's own agent declares it
    (`agents` by name; a grant of an agent no longer deployed: its giver only)."""
    row = await storage.get_grant(grant_id)
    if row is None:
        return RevokeOutcome("unknown", None, f"no grant {grant_id}")
    if not operator and not await _may_revoke(storage, agents.get(row.agent), row, by, person, identities or []):
        return RevokeOutcome(
            "not_allowed", row, f"{by} may not revoke grant {grant_id}: only its giver or an approver of {row.tool}"
        )
    status, after = await storage.revoke_grant(grant_id, by=by)
    if status == RevokeStatus.UNKNOWN or after is None:
        return RevokeOutcome("unknown", None, f"no grant {grant_id}")
    if status == RevokeStatus.ALREADY:
        return RevokeOutcome("already_revoked", after, f"grant {grant_id} was already revoked by {after.revoked_by}")
    return RevokeOutcome("revoked", after, f"grant {grant_id} revoked: the next {after.tool} call asks a human")


async def _may_revoke(
    storage: AsyncStore, agent: Agent | None, row: GrantRow, by: str, person: PersonRow | None, identities: list[str]
) -> bool:
    if voter(by, person) == row.given_by_voter:
        return True
    if agent is None:
        return False
    tool = agent.tools.get(row.tool)
    approvers = agent.approvers_for(tool) if tool is not None else agent.approvers
    people = await storage.people_for(list(approvers))
    allowed = {a.lower() for a in expand(approvers, people)}
    return bool(allowed & {n.lower() for n in [*held_by(by, person), *identities]})
