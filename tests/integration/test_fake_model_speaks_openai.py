"""The fake model server speaks OpenAI well enough for litellm's real HTTP path."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import httpx  # noqa: E402
import litellm  # noqa: E402
import pytest  # noqa: E402

from tests.support.fake_model import (  # noqa: E402
    EXHAUSTED_TEXT,
    FakeModelServer,
    Response,
    hang,
    http_error,
    raw_tool_call,
    text,
    tool_call,
)

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "restart_service",
            "description": "Restart a service.",
            "parameters": {
                "type": "object",
                "properties": {"name": {"type": "string"}},
                "required": ["name"],
            },
        },
    }
]
MESSAGES: list[dict[str, Any]] = [
    {"role": "system", "content": "You are Signoff."},
    {"role": "user", "content": "restart the payments worker"},
]


@pytest.fixture
def server() -> Iterator[FakeModelServer]:
    with FakeModelServer() as s:
        yield s


async def complete(server: FakeModelServer, **kwargs: Any) -> Any:
    args: dict[str, Any] = {
        "model": "openai/fake",
        "api_base": server.url,
        "api_key": "x",
        "messages": MESSAGES,
        "num_retries": 0,
    }
    args.update(kwargs)
    return await litellm.acompletion(**args)


async def test_scripted_tool_call_comes_back_with_parsed_arguments(
    server: FakeModelServer,
) -> None:
    server.script(tool_call("restart_service", {"name": "payments"}, call_id="call_1"))

    reply = await complete(server, tools=TOOLS)

    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert call.id == "call_1"
    assert call.function.name == "restart_service"
    assert json.loads(call.function.arguments) == {"name": "payments"}


async def test_raw_tool_call_arguments_arrive_verbatim(server: FakeModelServer) -> None:
    server.script(raw_tool_call("restart_service", '{"name": "payments"'))

    reply = await complete(server, tools=TOOLS)

    assert reply.choices[0].message.tool_calls[0].function.arguments == '{"name": "payments"'


async def test_scripted_text_comes_back(server: FakeModelServer) -> None:
    server.script(text("The payments worker was restarted."))

    reply = await complete(server)

    assert reply.choices[0].finish_reason == "stop"
    assert reply.choices[0].message.content == "The payments worker was restarted."
    assert reply.usage.total_tokens > 0


async def test_http_500_surfaces_as_a_litellm_exception(server: FakeModelServer) -> None:
    server.script(http_error(500))

    with pytest.raises(litellm.exceptions.InternalServerError):
        await complete(server)

    assert len(server.requests) == 1  # no hidden retries


async def test_http_429_surfaces_as_rate_limit(server: FakeModelServer) -> None:
    server.script(http_error(429))

    with pytest.raises(litellm.exceptions.RateLimitError):
        await complete(server)


async def test_request_is_recorded(server: FakeModelServer) -> None:
    server.script(text("ok"))

    await complete(server, tools=TOOLS)

    (request,) = server.wait_for_requests(1)
    assert request["messages"] == MESSAGES
    assert request["tools"] == TOOLS
    assert request["model"] == "fake"


async def test_script_is_fifo_then_default_then_exhausted(server: FakeModelServer) -> None:
    server.script(text("first"), text("second"))
    assert [(await complete(server)).choices[0].message.content for _ in range(3)] == [
        "first",
        "second",
        EXHAUSTED_TEXT,
    ]

    def echo(body: dict[str, Any]) -> Response:
        return text(f"echo: {body['messages'][-1]['content']}")

    server.default = echo
    reply = await complete(server)
    assert reply.choices[0].message.content == "echo: restart the payments worker"


async def test_hang_triggers_a_client_timeout(server: FakeModelServer) -> None:
    server.script(hang(30))

    with pytest.raises(litellm.exceptions.Timeout):
        await complete(server, timeout=0.3)


async def test_latency_does_not_serialise_concurrent_requests(
    server: FakeModelServer,
) -> None:
    server.latency = 0.5
    started = time.monotonic()

    replies = await asyncio.gather(*(complete(server) for _ in range(10)))

    assert len(replies) == 10
    assert time.monotonic() - started < 3.0  # serialised would take 5 s


def test_streaming_is_refused_clearly(server: FakeModelServer) -> None:
    response = httpx.post(
        f"{server.url}/chat/completions",
        json={"model": "fake", "messages": MESSAGES, "stream": True},
    )
    assert response.status_code == 400
    assert "streaming" in response.json()["error"]["message"]
    assert httpx.get(f"{server.url}/models").json()["object"] == "list"


def test_wait_for_requests_times_out(server: FakeModelServer) -> None:
    with pytest.raises(TimeoutError):
        server.wait_for_requests(1, timeout=0.05)
