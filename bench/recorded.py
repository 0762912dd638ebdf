"""The recorded threads the storage and context benchmarks share, in both shapes.

A thread of n events, deterministic: a person asks, the agent checks services (tool calls with
realistic JSON results), replies, the person asks again, ..., and the thread ends paused on an
approval request. `as_chat_messages` turns the same history into the OpenAI chat-messages list a
chat-history agent (LangGraph's message state included) would keep and send.
"""

from __future__ import annotations

import json
import random
from typing import Any

from agent.events import AgentReply, ApprovalRequested, Event, HumanMessage, ToolCall, ToolResult
from agent.thread import arguments_digest

SERVICES = ["payments", "search", "web", "billing", "auth", "queue", "mailer", "cache"]
ASKS = [
    "payments is slow again since the deploy this morning, can you check what is going on?",
    "what version of search are we running, and has it restarted today?",
    "web returns 502 for some users in the EU; please look at it",
    "is the queue backing up? the mailer seems late",
]
REPLIES = [
    "payments is running 1.4.2 and restarted 3 times today; latency is back to normal after the last restart.",
    "search runs 2.0.1, no restarts today, state running.",
    "web is degraded: 2 of 3 instances are healthy. A restart should fix the stuck one.",
]


def _id(rng: random.Random) -> str:
    return f"{rng.getrandbits(128):032x}"


def _status(rng: random.Random, name: str) -> str:
    return json.dumps(
        {
            "name": name,
            "version": f"{rng.randint(1, 4)}.{rng.randint(0, 9)}.{rng.randint(0, 20)}",
            "state": rng.choice(["running", "running", "degraded"]),
            "restarts": rng.randint(0, 5),
            "instances": [
                {"id": f"{name}-{i}", "healthy": rng.random() > 0.2, "cpu": round(rng.random(), 2)} for i in range(3)
            ],
        },
        separators=(",", ":"),
    )


def recorded_thread(n: int, seed: int = 5) -> list[Event]:
    """Exactly n events, the last an approval request (the thread is paused)."""
    if n < 2:
        raise ValueError("a recorded thread needs at least 2 events")
    rng = random.Random(seed)
    events: list[Event] = [HumanMessage(text=ASKS[0], by="U024BE7LH", channel="slack")]
    turn = 0
    while len(events) < n - 1:
        left = n - 1 - len(events)
        if left >= 2 and (len(events) % 9 != 8 or left < 4):
            service = rng.choice(SERVICES)
            call_id = _id(rng)
            events.append(ToolCall(call_id=call_id, tool="service_status", arguments={"name": service}))
            events.append(ToolResult(call_id=call_id, tool="service_status", result=_status(rng, service)))
        elif left >= 2:
            turn += 1
            events.append(AgentReply(text=REPLIES[turn % len(REPLIES)], final=True))
            events.append(HumanMessage(text=ASKS[turn % len(ASKS)], by="U024BE7LH", channel="slack"))
        else:
            events.append(AgentReply(text=REPLIES[turn % len(REPLIES)], final=True))
            events.append(HumanMessage(text=ASKS[(turn + 1) % len(ASKS)], by="U024BE7LH", channel="slack"))
            events = events[: n - 1]
    arguments = {"name": "web"}
    events.append(
        ApprovalRequested(
            request_id=_id(rng),
            call_id=_id(rng),
            tool="restart_service",
            arguments=arguments,
            digest=arguments_digest("restart_service", arguments),
            reason="one of three web instances is stuck and returns 502",
            approvers=["U0ALICE"],
        )
    )
    return events


def as_chat_messages(events: list[Event], system: str) -> list[dict[str, Any]]:
    """The same history as OpenAI chat messages (what a chat-history agent keeps and sends)."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}]
    for event in events:
        match event:
            case HumanMessage(text=text):
                messages.append({"role": "user", "content": text})
            case (
                ToolCall(call_id=call_id, tool=tool, arguments=arguments)
                | ApprovalRequested(call_id=call_id, tool=tool, arguments=arguments)
            ):
                if isinstance(event, ApprovalRequested):
                    arguments = {**arguments, "reason": event.reason}
                messages.append(
                    {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "id": _call_ref(call_id),
                                "type": "function",
                                "function": {"name": tool, "arguments": json.dumps(arguments)},
                            }
                        ],
                    }
                )
            case ToolResult(call_id=call_id, result=result):
                messages.append({"role": "tool", "tool_call_id": _call_ref(call_id), "content": result})
            case AgentReply(text=text):
                messages.append({"role": "assistant", "content": text})
            case _:
                raise ValueError(f"recorded threads hold no {event.type}")
    return messages


def _call_ref(call_id: str) -> str:
    # Providers name tool calls like this (OpenAI: "call_" and 24 characters).
    return "call_" + call_id[:24]
