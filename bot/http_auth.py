"""The JSON API's bearer tokens, checked from the headers before anything reads the body.

FastAPI reads and parses a request's body before it resolves the route's dependencies, so a
dependency alone lets anyone without the token make the server read what they send. `BearerGuard`
answers 401 for every guarded path from the headers alone; the body is never touched.

Two kinds of token pass: the service token (`SIGNOFF_API_TOKEN`: launches and reads; decides only
where an operator allowed it) and personal tokens (`signoff tokens create PERSON`: everything, and
a decision is made as their owner). The caller is left in `scope["state"]["signoff_caller"]`.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

NO_TOKEN = (
    "the API is disabled: set SIGNOFF_API_TOKEN and send it as a bearer token, or send a personal token "
    "(signoff tokens create PERSON)"
)
REVOKED_TOKEN = "this personal token was revoked: ask an operator for a new one (signoff tokens create PERSON)"
EXPIRED_TOKEN = "this personal token has expired: ask an operator for a new one (signoff tokens create PERSON)"
PERSONAL_PREFIX = "sgf_"


@dataclass(frozen=True)
class Caller:
    """Who is calling the API: the service token, or a person by their own token."""

    kind: str  # service | person
    person: Any = None  # storage.people_models.PersonRow for a person
    token_id: str | None = None


SERVICE = Caller("service")
# A personal token's check: (state, person, token id), state one of valid, unknown, revoked, expired.
CheckToken = Callable[[str], Awaitable[tuple[str, Any, str | None]]]
WRONG_TOKEN = "missing or wrong bearer token"
# The JSON API, its HumanLayer face and its schema; /healthz, /metrics and /slack/events (signed by
# Slack) stay open.
GUARDED_PREFIXES = ("/api/", "/humanlayer/")
GUARDED_PATHS = frozenset({"/api", "/openapi.json"})


def bearer_problem(authorization: str, token: str | None) -> str | None:
    """Why a request with this Authorization header may not pass, or None when it may."""
    if token is None:
        return NO_TOKEN
    scheme, _, given = authorization.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), token.encode()):
        return WRONG_TOKEN
    return None


def is_guarded(path: str) -> bool:
    return path in GUARDED_PATHS or path.startswith(GUARDED_PREFIXES)


class BearerGuard:
    """ASGI middleware: a guarded path without the right bearer token gets 401, unread."""

    def __init__(self, app: ASGIApp, token: str | None, check_token: CheckToken | None = None) -> None:
        self.app = app
        self.token = token
        self.check_token = check_token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_guarded(scope["path"]):
            caller, problem = await self.caller(Headers(scope=scope).get("authorization", ""))
            if caller is None:
                response = JSONResponse({"detail": problem}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
                await response(scope, receive, send)
                return
            scope.setdefault("state", {})["signoff_caller"] = caller
        await self.app(scope, receive, send)

    async def caller(self, authorization: str) -> tuple[Caller | None, str]:
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() == "bearer" and given.startswith(PERSONAL_PREFIX) and self.check_token is not None:
            state, person, token_id = await self.check_token(given)
            if state == "valid":
                return Caller("person", person, token_id), ""
            return None, {"revoked": REVOKED_TOKEN, "expired": EXPIRED_TOKEN}.get(state, WRONG_TOKEN)
        problem = bearer_problem(authorization, self.token)
        return (SERVICE, "") if problem is None else (None, problem)
