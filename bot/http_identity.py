"""Who an API call acts as: the owner of a personal token, or the service token's holder.

A decision or answer over the API is made as the person whose token was used: `by` no longer
decides who decided (if given, it must be one of that person's names, else 403). The service token
(`SIGNOFF_API_TOKEN`) launches and reads; it decides only with `SIGNOFF_API_TOKEN_MAY_DECIDE=true`,
and then with the `by` it names, recorded as `service_token`.
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, Request

from bot.http_auth import SERVICE, Caller
from bot.identity import held_by
from channels.base import Proof
from storage.async_store import AsyncStore
from storage.people import names_of

SERVICE_MAY_NOT_DECIDE = (
    "the service token (SIGNOFF_API_TOKEN) cannot decide or answer: use your personal token "
    "(signoff tokens create PERSON), or have an operator set SIGNOFF_API_TOKEN_MAY_DECIDE=true"
)
DECISION_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "No token, a wrong one, or a personal token that was revoked or expired"},
    403: {
        "description": "Not allowed: not an approver, the person who asked (no self-approval), `by` naming "
        "someone other than the token's owner, or the service token where it may not decide"
    },
    409: {"description": "Already decided, or this person's approval already counts toward N of M"},
}

# A refused decision's HTTP status, by `channels.base.Decision.status`.
DECISION_STATUS = {
    "not_allowed": 403,
    "self_approval": 403,
    "already_decided": 409,
    "already_approved": 409,
    "unknown": 404,
    "invalid": 409,
    "invalid_edit": 422,
    "not_editable": 409,
    "not_an_option": 422,
    "grant_refused": 422,
    "self_grant": 403,
}


def personal_token_check(storage: AsyncStore) -> Any:
    async def check(token: str) -> tuple[str, Any, str | None]:
        result = await storage.check_token(token)
        return str(result.state), result.person, result.token_id

    return check


def caller_of(request: Request) -> Caller:
    caller = getattr(request.state, "signoff_caller", None)
    return caller if isinstance(caller, Caller) else SERVICE


def acting_as(caller: Caller, by: str | None) -> str:
    """The person a personal token belongs to; `by`, if given, must be one of their names."""
    person = caller.person
    if by is not None and by.strip().lower() not in {n.lower() for n in held_by(person.name, person)}:
        raise HTTPException(
            403,
            f"this token belongs to {person.name}; `by` may only name them ({', '.join(names_of(person))}) "
            "or be left out",
        )
    return str(person.name)


def decider(caller: Caller, by: str | None, service_may_decide: bool) -> tuple[str, Proof]:
    """Who decides over the API, and how that was proven; raises 403/422 when nobody may."""
    if caller.kind == "person":
        return acting_as(caller, by), Proof("personal_token", "api", {"token_id": caller.token_id or ""})
    if not service_may_decide:
        raise HTTPException(403, SERVICE_MAY_NOT_DECIDE)
    if not by:
        raise HTTPException(422, "with the service token, `by` must name who decides")
    return by, Proof("service_token", "api", {"by_as_claimed": by})
