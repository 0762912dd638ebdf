"""A scripted, OpenAI-compatible model server for tests and benchmarks.

The LLM boundary is tested through litellm's real HTTP path: this module runs a real HTTP server on
127.0.0.1 (aiohttp, in a background thread with its own event loop) that speaks enough of the
OpenAI chat completions API for litellm, and answers what the test scripted.

    from tests.support.fake_model import FakeModelServer, tool_call, text, http_error

    with FakeModelServer() as server:
        server.script(tool_call("restart_service", {"name": "payments"}), text("Done."))
        reply = await litellm.acompletion(
            model="openai/fake", api_base=server.url, api_key="x", messages=[...]
        )
        assert server.requests[0]["messages"][-1]["content"] == "..."

Scripted responses are served in FIFO order. When the script is exhausted, `server.default` (a
callable `request_body -> response`) answers if set, otherwise a text reply
"(fake model: script exhausted)". A scripted entry may also be such a callable. `server.latency`
seconds are added before every answer (asynchronously: concurrent requests are not serialised).

Builders: `tool_call`, `raw_tool_call` (arguments text sent verbatim), `text`, `http_error`,
`hang`; each accepts `delay=seconds`. Streaming requests are refused with a 400.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from aiohttp import web

from tests.support.loopback_server import LoopbackServer

EXHAUSTED_TEXT = "(fake model: script exhausted)"
HANG_ENDED_TEXT = "(fake model: hang ended)"


# --- scripted responses ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolCallResponse:
    """The model calls one tool; `arguments_text` is sent verbatim as the JSON-encoded arguments."""

    name: str
    arguments_text: str
    call_id: str
    delay: float = 0.0


@dataclass(frozen=True)
class TextResponse:
    """The model answers with plain text (finish_reason "stop")."""

    content: str
    delay: float = 0.0


@dataclass(frozen=True)
class HttpErrorResponse:
    """The server answers with an HTTP error status."""

    status: int
    body: str | dict[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass(frozen=True)
class HangResponse:
    """The server sits on the request for `seconds` (to trigger client timeouts), then answers text."""

    seconds: float
    delay: float = 0.0


Response: TypeAlias = ToolCallResponse | TextResponse | HttpErrorResponse | HangResponse
Responder: TypeAlias = Callable[[dict[str, Any]], Response]
Scripted: TypeAlias = Response | Responder


def tool_call(
    name: str, arguments: dict[str, Any], call_id: str | None = None, *, delay: float = 0.0
) -> ToolCallResponse:
    """A tool call with JSON-encoded `arguments`."""
    return ToolCallResponse(name, json.dumps(arguments), call_id or _new_call_id(), delay)


def raw_tool_call(
    name: str, arguments_text: str, call_id: str | None = None, *, delay: float = 0.0
) -> ToolCallResponse:
    """A tool call whose arguments string is sent as given (e.g. malformed JSON)."""
    return ToolCallResponse(name, arguments_text, call_id or _new_call_id(), delay)


def text(content: str, *, delay: float = 0.0) -> TextResponse:
    """A plain text answer."""
    return TextResponse(content, delay)


def http_error(
    status: int,
    body: str | dict[str, Any] | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    delay: float = 0.0,
) -> HttpErrorResponse:
    """An HTTP error. 429 and 503 carry `Retry-After: 0` unless `headers` say otherwise.

    `body` may be a string (sent as is), a dict (sent as JSON), or None (an OpenAI-style error).
    """
    all_headers = {"Retry-After": "0"} if status in (429, 503) else {}
    all_headers.update(headers or {})
    return HttpErrorResponse(status, body, all_headers, delay)


def hang(seconds: float, *, delay: float = 0.0) -> HangResponse:
    """Hold the request for `seconds` before answering (clients with shorter timeouts give up)."""
    return HangResponse(seconds, delay)


def restart_when_asked(body: dict[str, Any]) -> Response:
    """A responder for the example agent: `restart X` (X one of payments, search, web) asks to restart X;
    once the restart ran or was denied, the thread is done; anything else gets a hello."""
    content = body["messages"][-1]["content"]
    if '<tool_result id="' in content or "<approval_denied " in content:
        return text("Done.")
    found = re.search(r"restart (payments|search|web)", content)
    return tool_call("restart_service", {"name": found.group(1), "reason": "asked"}) if found else text("Hello.")


_call_counter = itertools.count(1)


def _new_call_id() -> str:
    return f"call_fake_{next(_call_counter)}"


# --- the server -----------------------------------------------------------------------------------


class FakeModelServer(LoopbackServer):
    """An OpenAI-compatible chat completions server on 127.0.0.1, scripted by the test."""

    thread_name = "fake-model"
    backlog = 512
    shutdown_timeout = 1.0

    def __init__(self, *, latency: float = 0.0, default: Responder | None = None) -> None:
        super().__init__()
        self.latency: float = latency
        self.default: Responder | None = default
        self._queue: deque[Scripted] = deque()
        self._queue_lock = threading.Lock()
        self._requests: list[dict[str, Any]] = []
        self._recorded = threading.Condition()
        self._stopping: asyncio.Event | None = None
        self._ids = itertools.count(1)

    # lifecycle

    @property
    def url(self) -> str:
        """The api_base to give litellm (with model "openai/<anything>")."""
        if not self.port:
            raise RuntimeError("FakeModelServer is not started")
        return f"http://127.0.0.1:{self.port}/v1"

    def settings(self) -> dict[str, str]:
        """The settings that point `signoff serve` (litellm, over real HTTP) at this server."""
        return {"SIGNOFF_MODEL": "openai/fake", "SIGNOFF_MODEL_API_BASE": self.url, "SIGNOFF_MODEL_API_KEY": "x"}

    # scripting and inspection

    def script(self, *responses: Scripted) -> None:
        """Append responses (or `request_body -> response` callables) to the FIFO queue."""
        with self._queue_lock:
            self._queue.extend(responses)

    @property
    def remaining(self) -> int:
        """How many scripted responses have not been served yet."""
        with self._queue_lock:
            return len(self._queue)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """A snapshot of every request body received so far (parsed JSON), in arrival order."""
        with self._recorded:
            return list(self._requests)

    def reset(self) -> None:
        """Forget recorded requests and the unserved script."""
        with self._queue_lock:
            self._queue.clear()
        with self._recorded:
            self._requests.clear()

    def wait_for_requests(self, n: int, timeout: float = 10) -> list[dict[str, Any]]:
        """Block until at least `n` requests were recorded; returns them. TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        with self._recorded:
            while len(self._requests) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"fake model got {len(self._requests)} requests, expected {n}")
                self._recorded.wait(left)
            return list(self._requests)

    # internals: event loop thread

    def _app(self) -> web.Application:
        self._stopping = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat_completions)
        app.router.add_get("/v1/models", self._models)
        return app

    async def _closing(self) -> None:  # pending hangs and delays end at once
        if self._stopping is not None:
            self._stopping.set()

    async def _sleep(self, seconds: float) -> None:
        """Sleep without blocking other requests; ends early when the server stops."""
        if seconds <= 0 or self._stopping is None:
            return
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            pass

    # internals: handlers

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "object": "list",
                "data": [{"id": "fake", "object": "model", "created": 0, "owned_by": "signoff-tests"}],
            }
        )

    async def _chat_completions(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return _error_response(400, "request body is not valid JSON")
        if not isinstance(body, dict):
            return _error_response(400, "request body must be a JSON object")
        with self._recorded:
            self._requests.append(body)
            self._recorded.notify_all()
        if body.get("stream"):
            return _error_response(400, "fake model server does not support streaming; call without stream=True")

        response = self._next_response(body)
        await self._sleep(self.latency + response.delay)
        if isinstance(response, HttpErrorResponse):
            return _http_error(response)
        if isinstance(response, HangResponse):
            await self._sleep(response.seconds)
            response = TextResponse(HANG_ENDED_TEXT)
        return web.json_response(self._completion(body, response))

    def _next_response(self, body: dict[str, Any]) -> Response:
        with self._queue_lock:
            scripted: Scripted | None = self._queue.popleft() if self._queue else None
        if scripted is None:
            return self.default(body) if self.default is not None else text(EXHAUSTED_TEXT)
        if callable(scripted):
            return scripted(body)
        return scripted

    def _completion(self, body: dict[str, Any], response: ToolCallResponse | TextResponse) -> dict[str, Any]:
        message: dict[str, Any]
        if isinstance(response, ToolCallResponse):
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": response.call_id,
                        "type": "function",
                        "function": {
                            "name": response.name,
                            "arguments": response.arguments_text,
                        },
                    }
                ],
            }
            finish_reason, completion_chars = "tool_calls", len(response.arguments_text)
        else:
            message = {"role": "assistant", "content": response.content}
            finish_reason, completion_chars = "stop", len(response.content)
        prompt_tokens = max(1, len(json.dumps(body.get("messages", []))) // 4)
        completion_tokens = max(1, completion_chars // 4)
        return {
            "id": f"chatcmpl-fake-{next(self._ids)}-{uuid.uuid4().hex[:8]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": str(body.get("model", "fake")),
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }


def _error_response(status: int, message: str) -> web.Response:
    return web.json_response(
        {"error": {"message": message, "type": "invalid_request_error", "code": status}},
        status=status,
    )


def _http_error(response: HttpErrorResponse) -> web.Response:
    headers = dict(response.headers)
    if response.body is None:
        payload: str = json.dumps(
            {
                "error": {
                    "message": f"fake model: scripted HTTP {response.status}",
                    "type": "server_error" if response.status >= 500 else "api_error",
                    "code": response.status,
                }
            }
        )
        content_type = "application/json"
    elif isinstance(response.body, dict):
        payload, content_type = json.dumps(response.body), "application/json"
    else:
        payload, content_type = response.body, "text/plain"
    return web.Response(status=response.status, text=payload, content_type=content_type, headers=headers)
