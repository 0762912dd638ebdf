"""The clock of requests is declared per agent, per gated tool and per policy Rule; a negative,
zero, absurd or contradictory duration stops the agent at load with a message naming where and
what is accepted, and a Rule's bad clock refuses the call (the model reads why). What is declared
reaches the request's event in seconds, the tool's over the agent's, the rule's over both."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from agent import Agent
from agent.errors import AgentDefinitionError
from agent.events import ApprovalRequested, QuestionAsked, RequestReminded, parse_event
from agent.policy import Rule
from agent.reducer import ModelOutput, ModelToolCall, on_model_output
from agent.testing import Conversation, ScriptedModel, call, reply
from agent.timers import DurationError, parse_duration


def _ids() -> Any:
    counter = iter(range(1000))
    return lambda: f"id{next(counter)}"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (90, timedelta(seconds=90)),
        (1.5, timedelta(seconds=1.5)),
        ("15m", timedelta(minutes=15)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("2d", timedelta(days=2)),
        ("PT30M", timedelta(minutes=30)),
        ("P1D", timedelta(days=1)),
        (timedelta(hours=4), timedelta(hours=4)),
    ],
)
def test_durations_read_as_people_write_them(value: Any, expected: timedelta) -> None:
    assert parse_duration(value, "remind_after") == expected


@pytest.mark.parametrize(
    "value",
    [0, -5, "-1h", "0m", "91d", 10**12, float("inf"), float("nan"), "soon", "", "1 hour", True, None, [60], "P-1D"],
)
def test_absurd_durations_are_refused_naming_the_setting(value: Any) -> None:
    with pytest.raises(DurationError, match="expire_after"):
        parse_duration(value, "expire_after")


def test_an_agent_with_a_bad_clock_does_not_load() -> None:
    agent = Agent("ops", approvers=["alice"], remind_after=-60, expire_after="forever")

    @agent.tool(needs_approval=True, escalate_after="2h")  # to nobody
    def restart(name: str) -> str:
        """Restart a service."""
        return name

    @agent.tool(remind_after="5m")  # not a gated tool
    def status(name: str) -> str:
        """A service's status."""
        return name

    with pytest.raises(AgentDefinitionError) as raised:
        agent.check()
    message = str(raised.value)
    assert "agent ops: remind_after=-60: a duration must be more than 0 and at most 90 days" in message
    assert "agent ops: expire_after='forever' is not a duration" in message
    assert "tool restart: escalate_after needs escalate_to" in message
    assert "tool status: remind_after, escalate_after and expire_after need needs_approval=True" in message


def test_a_reminder_after_the_expiry_is_a_contradiction() -> None:
    agent = Agent("ops", approvers=["alice"], expire_after="1h")

    @agent.tool(needs_approval=True, remind_after="2h")
    def restart(name: str) -> str:
        """Restart a service."""
        return name

    with pytest.raises(AgentDefinitionError, match=r"tool restart: remind_after \(2:00:00\) must be shorter"):
        agent.check()


def _approval(agent: Agent, arguments: dict[str, Any]) -> ApprovalRequested:
    output = ModelOutput(tool_calls=(ModelToolCall("deploy", json.dumps(arguments)),))
    [event] = on_model_output(agent, [], output, _ids())
    assert isinstance(event, ApprovalRequested), event
    return event


def test_the_clock_reaches_the_request_tool_over_agent_and_rule_over_both() -> None:
    def policy(args: dict[str, Any]) -> Rule | None:
        return Rule("prod is urgent", remind_after="5m") if args["env"] == "prod" else None

    agent = Agent("ops", approvers=["alice"], remind_after="4h", expire_after="1d")

    @agent.tool(needs_approval=True, escalate_after="2h", escalate_to=["carol", "U0DAVE"], policy=policy)
    def deploy(env: str) -> str:
        """Deploy."""
        return env

    agent.check()
    staging = _approval(agent, {"env": "staging", "reason": "release"})
    assert (staging.remind_after, staging.escalate_after, staging.expire_after) == (4 * 3600, 2 * 3600, 86400)
    assert staging.escalate_to == ["carol", "U0DAVE"]
    prod = _approval(agent, {"env": "prod", "reason": "release"})
    assert (prod.remind_after, prod.escalate_after, prod.expire_after) == (300, 2 * 3600, 86400)


def test_a_rule_with_a_bad_clock_refuses_the_call() -> None:
    agent = Agent("ops", approvers=["alice"], expire_after="1h")

    @agent.tool(needs_approval=True, policy=lambda args: Rule("late", remind_after="3h"))
    def deploy(env: str) -> str:
        """Deploy."""
        return env

    output = ModelOutput(tool_calls=(ModelToolCall("deploy", '{"env": "prod", "reason": "r"}'),))
    [error] = on_model_output(agent, [], output, _ids())
    assert error.type == "error"
    assert "remind_after (3:00:00) must be shorter than expire_after" in error.message


def test_questions_take_the_agents_clock() -> None:
    agent = Agent("ops", approvers=["alice"], remind_after="10m", expire_after="1h")
    output = ModelOutput(tool_calls=(ModelToolCall("ask_human", '{"question": "which one?"}'),))
    [question] = on_model_output(agent, [], output, _ids())
    assert isinstance(question, QuestionAsked)
    assert (question.remind_after, question.expire_after) == (600, 3600)


def test_events_recorded_before_the_clock_still_load_and_the_new_ones_round_trip() -> None:
    old = parse_event(
        {"type": "approval_requested", "request_id": "r", "call_id": "c", "tool": "t", "arguments": {}, "digest": "d"}
    )
    assert isinstance(old, ApprovalRequested) and old.expire_after is None and old.escalate_to == []
    reminded = parse_event(
        {"type": "request_reminded", "request_id": "r", "awaiting": ["carol"], "count": 1, "required": 2}
    )
    assert reminded == RequestReminded(request_id="r", awaiting=["carol"], count=1, required=2)


async def test_an_agent_author_tests_what_the_model_does_when_a_request_expires() -> None:
    agent = Agent("ops", approvers=["alice"], expire_after="1h")

    @agent.tool(needs_approval=True)
    def restart(name: str) -> str:
        """Restart a service."""
        return name

    model = ScriptedModel(
        call("restart", name="payments", reason="stuck"),
        lambda messages, _tools: reply(f"told: {'<request_expired ' in messages[-1]['content']}"),
    )
    talk = Conversation(agent, model)
    await talk.say("restart payments", by="bob@example.com")
    assert talk.waiting_for_approval().expire_after == 3600
    await talk.expire()
    assert talk.last_reply() == "told: True" and talk.status == "done"
