"""Where a request goes besides its thread (agent/places.py): declarations checked when the agent
loads, carried on the request's event, and turned into one outbox row per place."""

from __future__ import annotations

import pytest

from agent import Agent
from agent.errors import AgentDefinitionError
from agent.events import ApprovalDecided, ApprovalProgress, ApprovalRequested, QuestionAnswered, ToolResult
from agent.places import places_from, updates_for
from bot.outbox_policy import outbox_for


def request(copies: list[str], request_id: str = "r1") -> ApprovalRequested:
    return ApprovalRequested(
        request_id=request_id, call_id="c1", tool="restart", arguments={}, digest="d", copies=copies
    )


def test_places_are_read_and_a_bad_one_is_named() -> None:
    assert places_from("agent a", ["slack:C0OPS", "slack:dm", "email", "slack:dm"], False) == (
        ("slack:C0OPS", "slack:dm", "email"),
        [],
    )
    assert places_from("agent a", ["email"], True) == (("email:decided",), [])
    assert places_from("agent a", None, True) == ((), [])
    _places, problems = places_from("tool t", ["slack:#ops", "sms"], False)
    assert len(problems) == 2 and all(p.startswith("tool t: deliver_to place") for p in problems)
    assert "slack:C0APPROVERS" in problems[0]
    _places, problems = places_from("agent a", "email", False)  # type: ignore[arg-type]
    assert problems and "must be a list" in problems[0]


def test_an_agent_with_bad_places_lists_every_problem_when_it_loads() -> None:
    agent = Agent("ops", deliver_to=["slack:general"])

    @agent.tool(deliver_to=["email"])
    def look(service: str) -> str:
        """Look at a service.

        Args:
            service: The service.
        """
        return service

    with pytest.raises(AgentDefinitionError) as raised:
        agent.check()
    text = str(raised.value)
    assert "agent ops: deliver_to place 'slack:general'" in text
    assert "tool look: deliver_to needs needs_approval=True" in text


def test_a_tool_names_its_own_places_or_takes_the_agents() -> None:
    agent = Agent("ops", approvers=["alice"], deliver_to=["slack:dm"], decided_mail=True)

    @agent.tool(needs_approval=True)
    def restart(service: str) -> str:
        """Restart.

        Args:
            service: The service.
        """
        return service

    @agent.tool(needs_approval=True, deliver_to=["email"])
    def deploy(service: str) -> str:
        """Deploy.

        Args:
            service: The service.
        """
        return service

    agent.check()
    assert agent.copies_for(agent.tools["restart"]) == ("slack:dm",)
    assert agent.copies_for(agent.tools["deploy"]) == ("email:decided",)


def test_each_place_is_its_own_outbox_row_and_mail_is_left_out_of_a_mail_thread() -> None:
    event = request(["slack:C0OPS", "slack:dm", "email"])
    drafts = [(d.channel, d.kind, d.text) for d in outbox_for("slack", [event])]
    assert drafts == [
        ("slack", "approval_request", ""),
        ("slack", "copy", "slack:C0OPS"),
        ("slack", "copy", "slack:dm"),
        ("email", "copy", "email"),
    ]
    by_mail = [(d.channel, d.kind, d.text) for d in outbox_for("email", [event])]
    assert by_mail == [
        ("email", "approval_request", ""),
        ("slack", "copy", "slack:C0OPS"),
        ("slack", "copy", "slack:dm"),
    ]
    # A thread started through the API says nothing in its own channel; its copies still go out.
    assert [d.kind for d in outbox_for("api", [event])] == ["copy", "copy", "copy"]


def test_slack_copies_follow_every_change_and_mail_only_the_outcome_when_asked() -> None:
    places = ["slack:C0OPS", "email", "email:decided"]
    decided = ApprovalDecided(request_id="r1", approved=True, by="alice")
    progress = ApprovalProgress(request_id="r1", by="alice", count=1, required=2)
    answered = QuestionAnswered(request_id="r1", answer="yes", by="bob")
    assert updates_for(decided, places) == [("slack", "slack:C0OPS"), ("email", "email:decided")]
    assert updates_for(answered, places) == [("slack", "slack:C0OPS"), ("email", "email:decided")]
    assert updates_for(progress, places) == [("slack", "slack:C0OPS")]
    assert updates_for(ToolResult(call_id="c1", tool="restart", result="ok"), places) == []
