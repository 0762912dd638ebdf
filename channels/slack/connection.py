"""How Slack reaches the app: HTTP at /slack/events on the bot's server, or Socket Mode.

Both are thin: the HTTP route hands the raw request to Bolt's Starlette adapter (after a look at
the headers: a request that is unsigned, or whose timestamp Bolt would refuse, gets its 401 before
its body is read; the server's body cap bounds what a forged signature costs); the Socket Mode
service asks Slack for a websocket URL (`apps.connections.open`), retrying until Slack answers
after `CONNECT_BACKOFF` (the n-th failure waits between half and all of min(60 s, 2**(n-1) s)),
connects, lets the SDK's client reconnect when Slack asks, and closes the socket when the server
stops. The URL is asked for here, not inside the SDK's `connect()`: that one retries a refusal
for ever, every ping interval, with neither backoff nor jitter and a traceback each time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from retry_backoff import Backoff

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
SIGNATURE_WINDOW = 5 * 60  # seconds; Bolt's SignatureVerifier refuses a timestamp further off than this
CONNECT_BACKOFF = Backoff(initial=1.0, cap=60.0)


def unsigned(headers: Headers, now: float) -> bool:
    """True when Bolt would refuse the request whatever its body: no signature, or no fresh timestamp."""
    timestamp = headers.get("x-slack-request-timestamp", "")
    if not headers.get("x-slack-signature") or not (timestamp.isascii() and timestamp.isdigit()):
        return True
    return abs(now - int(timestamp[:20])) > SIGNATURE_WINDOW


def http_mount(
    app: AsyncApp, path: str = EVENTS_PATH, *, clock: Callable[[], float] = time.time
) -> Callable[[Any], None]:
    """A function that adds `POST path` (events and interactivity) to a Starlette/FastAPI app."""
    handler = AsyncSlackRequestHandler(app)

    async def slack_events(request: Request) -> Response:
        if unsigned(request.headers, clock()):
            return JSONResponse({"error": "invalid request"}, status_code=401)  # as Bolt answers, unread
        return await handler.handle(request)

    def mount(web_app: Any) -> None:
        web_app.add_route(path, slack_events, methods=["POST"], include_in_schema=False)

    return mount


def socket_mode_service(
    app: AsyncApp,
    app_token: str,
    client: AsyncWebClient,
    *,
    backoff: Backoff = CONNECT_BACKOFF,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Callable[[], Awaitable[None]]:
    """A long-running coroutine factory: connect over Socket Mode and stay connected."""

    async def slack_socket_mode() -> None:
        handler = AsyncSocketModeHandler(app, app_token, web_client=client)
        socket = handler.client
        failures = 0
        try:
            while True:
                try:
                    socket.wss_uri = await socket.issue_new_wss_url()  # apps.connections.open
                    break
                except (SlackApiError, aiohttp.ClientError, OSError, TimeoutError) as exc:
                    failures += 1
                    delay = backoff.delay(failures)
                    log.error("Socket Mode: cannot connect to Slack (%s); retrying in %.1fs", exc, delay)
                    await sleep(delay)
            await handler.connect_async()  # type: ignore[no-untyped-call]
            log.info("Socket Mode: connected")
            await asyncio.Event().wait()  # until cancelled when the server stops
        finally:
            await handler.close_async()  # type: ignore[no-untyped-call]

    return slack_socket_mode
