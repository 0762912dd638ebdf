"""The JSON API's bearer token, checked from the headers before anything reads the body.

FastAPI reads and parses a request's body before it resolves the route's dependencies, so a
dependency alone lets anyone without the token make the server read what they send. `BearerGuard`
answers 401 for every guarded path from the headers alone; the body is never touched.
"""

from __future__ import annotations

import hmac

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

NO_TOKEN = "the API is disabled: set SIGNOFF_API_TOKEN and send it as a bearer token"
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

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_guarded(scope["path"]):
            problem = bearer_problem(Headers(scope=scope).get("authorization", ""), self.token)
            if problem is not None:
                response = JSONResponse({"detail": problem}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
