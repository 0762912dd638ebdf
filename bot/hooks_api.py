"""`POST /hooks/{name}`: a signed delivery starts (or, by its key, continues) a thread of the hook's agent.

Refused with a 4xx, starting nothing: an unknown hook (404), a body over MAX_HOOK_BODY (413), a
bad or missing signature or a timestamp outside the window (401), a delivery id already recorded
(409), a payload the template cannot render (422). The delivery id is recorded once, in the
transaction that records the message (`hook:<name>:<delivery id>`, a receipt).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from bot.agent_set import Agents
from bot.core import SignoffCore
from bot.deployment import HookEntry
from bot.hooks import MAX_HOOK_BODY, HookRefused, render, thread_key, verify
from bot.triggers import HOOK_CHANNEL, trigger_humans, trigger_origin

log = logging.getLogger(__name__)


async def _body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_HOOK_BODY:
        raise HookRefused(413, f"the body is larger than {MAX_HOOK_BODY} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_HOOK_BODY:
            raise HookRefused(413, f"the body is larger than {MAX_HOOK_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def receive_hook(
    core: SignoffCore, name: str, hook: HookEntry, headers: dict[str, str], body: bytes, now: datetime
) -> tuple[int, dict[str, Any]]:
    delivery = verify(hook, headers, body, now)
    message = render(hook.template, delivery)
    key = thread_key(hook, delivery)
    receipt = f"hook:{name}:{delivery.delivery_id}"
    origin = trigger_origin(HOOK_CHANNEL, name, key or delivery.delivery_id, hook.ask, f"[{name}] {message[:120]}")
    by = f"hook:{name}"
    thread_id = await core.receive_message(
        receipt_key=receipt,
        origin=origin,
        text=message,
        by=by,
        agent=hook.agent,
        humans=trigger_humans(hook.ask),
        trigger=receipt,
    )
    if thread_id is None:
        raise HookRefused(409, f"delivery {delivery.delivery_id} was already received")
    log.info("hook %s: delivery %s -> thread %s", name, delivery.delivery_id, thread_id)
    return 202, {"thread_id": thread_id, "delivery": delivery.delivery_id}


def add_hook_routes(app: FastAPI, core: SignoffCore, agents: Agents, now: Callable[[], datetime]) -> None:
    hooks = agents.deployment.hooks if agents.deployment else {}

    @app.post("/hooks/{name}", include_in_schema=False)
    async def hook(name: str, request: Request) -> JSONResponse:
        entry = hooks.get(name)
        try:
            if entry is None:
                raise HookRefused(404, f"no hook {name[:100]!r}")
            body = await _body(request)
            headers = {k.lower(): v for k, v in request.headers.items()}
            status, answer = await receive_hook(core, name, entry, headers, body, now())
        except HookRefused as refused:
            log.warning("hook %s refused: %s", name[:100], refused.message)
            return JSONResponse({"detail": refused.message}, status_code=refused.status)
        return JSONResponse(answer, status_code=status)


def hook_mount(core: SignoffCore, agents: Agents) -> Callable[[FastAPI], None]:
    def mount(app: FastAPI) -> None:
        add_hook_routes(app, core, agents, lambda: datetime.now(UTC))

    return mount
