"""Approval policies in the pure core: a function of the arguments picks who approves and how many
(recorded as the rule with the request), lets some calls run without approval (the runner checks the
function again), self-approval is off by default for gated tools, and N of M counts distinct people."""

from __future__ import annotations

from typing import Any

import pytest

from agent import Agent
from agent.events import ApprovalProgress, ToolCall, ToolResult
from agent.policy import Rule
from agent.testing import Conversation, ScriptedModel, call, reply


def deploy_policy(args: dict[str, Any]) -> Rule | None:
    if args["env"] == "prod":
        return Rule("prod needs two SREs", approvers=["sre-a@example.com", "sre-b@example.com"], required=2)
    if args["env"] == "staging":
        return Rule("staging needs no approval", needs_approval=False)
    if args["env"] == "broken":
        raise RuntimeError("no rule for broken")
    return None


def make_agent(ran: list[str]) -> Agent:
    agent = Agent("ops", approvers=["lead@example.com"])

    @agent.tool(needs_approval=True, policy=deploy_policy)
    def deploy(service: str, env: str) -> str:
        """Deploy a service."""
        ran.append(f"{service}@{env}")
        return "deployed"

    return agent


async def test_prod_needs_two_distinct_approvers_and_runs_once() -> None:
    ran: list[str] = []
    model = ScriptedModel(call("deploy", service="web", env="prod", reason="release"), reply("Deployed."))
    talk = Conversation(make_agent(ran), model)
    await talk.say("deploy web to prod", by="bob@example.com")
    request = talk.waiting_for_approval()
    assert (request.approvers, request.required, request.rule) == (
        ["sre-a@example.com", "sre-b@example.com"],
        2,
        "prod needs two SREs",
    )
    assert request.no_self_approval
    [progress] = await talk.approve(by="sre-a@example.com")
    assert isinstance(progress, ApprovalProgress) and (progress.count, progress.required) == (1, 2)
    assert ran == [] and talk.status == "waiting"
    with pytest.raises(PermissionError, match="already approved"):
        await talk.approve(by="SRE-A@example.com")
    await talk.approve(by="sre-b@example.com")
    assert ran == ["web@prod"] and talk.last_reply() == "Deployed."


async def test_staging_runs_without_approval_and_records_the_rule() -> None:
    ran: list[str] = []
    model = ScriptedModel(call("deploy", service="web", env="staging", reason="try it"), reply("Done."))
    talk = Conversation(make_agent(ran), model)
    await talk.say("deploy web to staging", by="bob@example.com")
    assert ran == ["web@staging"]
    [tool_call] = [e for e in talk.events if isinstance(e, ToolCall)]
    assert tool_call.rule == "staging needs no approval"
    assert any(isinstance(e, ToolResult) for e in talk.events)


async def test_other_environments_take_the_declared_approvers() -> None:
    model = ScriptedModel(call("deploy", service="web", env="qa", reason="check"), reply("Done."))
    talk = Conversation(make_agent([]), model)
    await talk.say("deploy web to qa", by="bob@example.com")
    request = talk.waiting_for_approval()
    assert (request.approvers, request.required, request.rule) == (["lead@example.com"], 1, "")


async def test_a_failing_policy_asks_nobody_and_runs_nothing() -> None:
    ran: list[str] = []
    model = ScriptedModel(call("deploy", service="web", env="broken", reason="x"), reply("Could not."))
    talk = Conversation(make_agent(ran), model)
    await talk.say("deploy web to broken", by="bob@example.com")
    assert ran == []
    errors = [e for e in talk.events if e.type == "error"]
    assert errors and "no rule for broken" in errors[0].message  # type: ignore[union-attr]


async def test_the_requester_may_not_approve_unless_the_tool_allows_it() -> None:
    agent = Agent("ops", approvers=["bob@example.com", "lead@example.com"])

    @agent.tool(needs_approval=True)
    def restart(name: str) -> str:
        """Restart a service."""
        return "ok"

    @agent.tool(needs_approval=True, self_approval=True)
    def flush(name: str) -> str:
        """Flush a cache."""
        return "ok"

    model = ScriptedModel(call("restart", name="web", reason="slow"), call("flush", name="web", reason="stale"))
    talk = Conversation(agent, model)
    await talk.say("restart web", by="bob@example.com")
    with pytest.raises(PermissionError, match="may not approve their own request"):
        await talk.approve(by="bob@example.com")
    await talk.approve(by="lead@example.com")
    assert talk.waiting_for_approval().tool == "flush"
    await talk.approve(by="bob@example.com")  # this tool allows it


def test_a_forged_call_of_a_gated_tool_is_not_exempt_without_its_policy() -> None:
    from agent.policy import exempt

    ran: list[str] = []
    agent = make_agent(ran)
    tool = agent.tools["deploy"]
    assert exempt(agent, tool, {"service": "web", "env": "staging"})
    assert not exempt(agent, tool, {"service": "web", "env": "prod"})
    assert not exempt(agent, tool, {"service": "web", "env": "broken"})  # a failing policy exempts nothing


def test_bad_policy_declarations_are_problems_of_the_agent() -> None:
    agent = Agent("ops", approvers=["lead@example.com"])

    @agent.tool(needs_approval=True, required=0)
    def restart(name: str) -> str:
        """Restart."""
        return "ok"

    @agent.tool(policy=deploy_policy)
    def status(name: str) -> str:
        """Status."""
        return "ok"

    assert any("required=0" in p for p in agent.problems)
    assert any("policy applies to a gated tool only" in p for p in agent.problems)
