"""A gated call that needs more distinct approvals than its approvers can be people would wait
until it expires, approved by nobody: a policy's rule that asks for that refuses the call (the
model reads why), and a tool declared that way stops `serve` and fails `doctor`, counting a
person's Slack id and address as one (the directory says whose they are); a Slack user group may
hold any number of people."""

from __future__ import annotations

from typing import Any

import pytest

from agent import Agent
from agent.policy import PolicyError, Rule, requirement
from bot.approver_check import require_approvers, too_few_approvers
from bot.errors import ConfigError
from storage.people_models import PersonRow


def rule_agent(rule: Rule) -> Agent:
    agent = Agent("ops", approvers=["lead@example.com"])

    @agent.tool(needs_approval=True, policy=lambda _args: rule)
    def deploy(env: str) -> str:
        """Deploy."""
        return env

    return agent


def test_a_rule_asking_more_approvals_than_it_names_people_refuses_the_call() -> None:
    agent = rule_agent(Rule("prod needs three", approvers=["alice", "ALICE", "bob"], required=3))
    with pytest.raises(PolicyError, match=r"asks for 3 distinct approvals, but names only 2 approver"):
        requirement(agent, agent.tools["deploy"], {"env": "prod"})
    for fine in (
        Rule("two of two", approvers=["alice", "bob"], required=2),
        Rule("a group", approvers=["S0SRE"], required=5),
    ):
        agent = rule_agent(fine)
        assert requirement(agent, agent.tools["deploy"], {"env": "prod"}).required == fine.required


def tool_agent(approvers: list[str], required: int, *, agent_approvers: tuple[str, ...] = ()) -> Agent:
    agent = Agent("ops", approvers=list(agent_approvers))

    @agent.tool(needs_approval=True, approvers=approvers, required=required)
    def restart(name: str) -> str:
        """Restart."""
        return name

    return agent


def alice() -> PersonRow:
    return PersonRow(id="p_alice", name="alice", slack_ids=["U0ALICE"], emails=["alice@example.com"])


def test_a_tool_needing_more_approvals_than_its_approvers_are_people_stops_serve() -> None:
    one_person = tool_agent(["U0ALICE", "alice@example.com"], 2)
    people: dict[str, Any] = {"U0ALICE": alice(), "alice@example.com": alice()}
    problem = too_few_approvers(one_person, [], people)
    assert problem is not None
    assert "restart needs 2 approvals from U0ALICE, alice@example.com (1 person)" in problem
    with pytest.raises(ConfigError, match="no request could ever be approved"):
        require_approvers(one_person, [], people)
    assert too_few_approvers(one_person, [], {}) is None  # without the directory: two names, maybe two people

    from_settings = tool_agent([], 3)
    assert too_few_approvers(from_settings, ["alice", "bob"]) is not None
    assert too_few_approvers(tool_agent([], 2, agent_approvers=("alice", "bob")), []) is None
    assert too_few_approvers(tool_agent(["S0SRE"], 4), []) is None
