"""Every approval-gated tool needs someone to approve it: checked by `serve` and `doctor`.

A gated tool whose request names nobody could be approved by anyone in the conversation, the
person who asked included. So a tool with no approvers of its own, under an agent with none, with
SIGNOFF_APPROVERS empty, is a configuration error, not a default.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence

from agent.definition import Agent
from agent.policy import most_people
from bot.errors import ConfigError
from bot.identity import unknown_names, voter
from storage.people_models import PersonRow


def tools_without_approvers(agent: Agent, default_approvers: Sequence[str]) -> list[str]:
    """The gated tools of `agent` that nobody may approve."""
    return [
        tool.name
        for tool in agent.tools.values()
        if tool.needs_approval and not (tool.approvers or agent.approvers or list(default_approvers))
    ]


def nobody_to_approve(agent: Agent, default_approvers: Sequence[str]) -> str | None:
    """What is wrong and how to fix it, or None when every gated tool has approvers."""
    missing = tools_without_approvers(agent, default_approvers)
    if not missing:
        return None
    names = ", ".join(missing)
    return (
        f"nobody may approve the gated tool(s) {names} of agent {agent.name}: anyone in a conversation, the "
        "person who asked included, could approve them. Name approvers: set SIGNOFF_APPROVERS (comma-separated "
        "Slack user or group ids and email addresses, e.g. SIGNOFF_APPROVERS=U012ABCDEF,alice@example.com), "
        f"or pass approvers=[...] to Agent({agent.name!r}, ...) or to @agent.tool(needs_approval=True, ...)"
    )


def too_few_approvers(
    agent: Agent, default_approvers: Sequence[str], people: Mapping[str, PersonRow] | None = None
) -> str | None:
    """What is wrong when a gated tool needs more distinct approvals than its approvers are people
    (a Slack id and an address of one person in the directory are one): its requests could never
    be approved. A list naming a Slack user group is not counted."""
    short = []
    for tool in agent.tools.values():
        names = list(tool.approvers or agent.approvers or default_approvers)
        if not tool.needs_approval or tool.required <= 1 or most_people(names) == sys.maxsize:
            continue
        known = people or {}
        count = len({voter(n, known.get(n)) for n in names})
        if count < tool.required:
            who = f"{count} person" if count == 1 else f"{count} people"
            short.append(f"{tool.name} needs {tool.required} approvals from {', '.join(names)} ({who})")
    if not short:
        return None
    return (
        f"agent {agent.name}: no request could ever be approved: {'; '.join(short)}. "
        "Name more approvers (people, Slack user or group ids, email addresses), or lower the tool's required=N"
    )


def named(agent: Agent, default_approvers: Sequence[str]) -> list[str]:
    """Every name in the agent's approver, answerer and escalation lists and SIGNOFF_APPROVERS."""
    tools = [a for t in agent.tools.values() for a in (*t.approvers, *t.timers.escalate_to)]
    escalate = agent.timers.escalate_to
    return list(dict.fromkeys([*default_approvers, *agent.approvers, *tools, *agent.answerers, *escalate]))


def nobody_by_that_name(agent: Agent, default_approvers: Sequence[str], people: Mapping[str, PersonRow]) -> str | None:
    """What is wrong when an approver or answerer list names someone the directory does not know."""
    unknown = unknown_names(named(agent, default_approvers), people)
    if not unknown:
        return None
    return (
        f"agent {agent.name} names approvers or answerers nobody is known by: {', '.join(unknown)}. "
        "Name people by their directory name (add them with `signoff people add NAME --slack U012ABCDEF "
        "--email alice@example.com`), a Slack user or group id, or an email address"
    )


def require_approvers(
    agent: Agent, default_approvers: Sequence[str], people: Mapping[str, PersonRow] | None = None
) -> None:
    """Raise ConfigError when a gated tool has nobody to approve it, or a list names an unknown person."""
    problem = nobody_to_approve(agent, default_approvers)
    if problem is None and people is not None:
        problem = nobody_by_that_name(agent, default_approvers, people)
    if problem is None:
        problem = too_few_approvers(agent, default_approvers, people)
    if problem:
        raise ConfigError(problem)
