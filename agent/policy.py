"""Approval policies: who must approve a gated call, how many of them, and whether the person who
asked may be one, possibly depending on the call's arguments. Pure: no I/O.

A gated tool takes the policy of its declaration (`@agent.tool(needs_approval=True, approvers=[...],
required=2, self_approval=False)`), and may add a plain Python function of the validated
arguments that returns a `Rule` for this call, or None for the declaration's defaults:

    def deploy_policy(args: dict[str, Any]) -> Rule | None:
        if args["env"] == "prod":
            return Rule("prod needs two SREs", approvers=["sre@example.com", "S0SRE"], required=2)
        if args["env"] == "staging":
            return Rule("staging needs no approval", needs_approval=False)
        return None

    @agent.tool(needs_approval=True, policy=deploy_policy)
    def deploy(service: str, env: str) -> str: ...

The rule that matched is recorded with the request (`approval_requested.rule`, or `tool_call.rule`
for a call it let run without approval) and shown to the approvers. The runner evaluates the policy
again before running a gated call without an approval, so only the function's own answer for
exactly these arguments lets it run.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agent.timers import Duration, Timers, timers_from

if TYPE_CHECKING:
    from agent.definition import Agent
    from agent.tools import Tool

MAX_RULE_CHARS = 300


@dataclass(frozen=True)
class Rule:
    """What one gated call needs. `name` says why (shown to approvers and recorded); `approvers`
    None keeps the tool's (or the agent's); `required` is how many distinct people must approve;
    `self_approval` None keeps the tool's (or the agent's) setting; `needs_approval=False` lets the
    call run without asking anyone. `remind_after`, `escalate_after` with `escalate_to`, and
    `expire_after` set this call's clock (None keeps the tool's, then the agent's)."""

    name: str
    approvers: Sequence[str] | None = None
    required: int | None = None
    needs_approval: bool = True
    self_approval: bool | None = None
    remind_after: Duration | None = None
    escalate_after: Duration | None = None
    escalate_to: Sequence[str] | None = None
    expire_after: Duration | None = None
    escalate_channel: str | None = None


PolicyFunction = Callable[[dict[str, Any]], "Rule | None"]


@dataclass(frozen=True)
class Requirement:
    """The policy as it applies to one call: recorded on its approval request."""

    needs_approval: bool
    approvers: tuple[str, ...]
    required: int
    no_self_approval: bool
    rule: str
    timers: Timers = field(default_factory=Timers)
    copies: tuple[str, ...] = ()  # where the request goes besides the thread (agent/places.py)


class PolicyError(Exception):
    """A policy function failed or returned something that is not a Rule; the call is refused."""


def requirement(agent: Agent, tool: Tool, arguments: dict[str, Any]) -> Requirement:
    """What a call of `tool` with these (validated) arguments needs. Raises PolicyError."""
    rule: Rule | None = None
    if tool.policy is not None:
        try:
            rule = tool.policy(dict(arguments))
        except Exception as exc:
            raise PolicyError(f"the approval policy of {tool.name} failed: {type(exc).__name__}: {exc}") from exc
        if rule is not None and not isinstance(rule, Rule):
            raise PolicyError(f"the approval policy of {tool.name} returned {type(rule).__name__}, not a Rule or None")
    approvers = tuple(rule.approvers) if rule is not None and rule.approvers is not None else agent.approvers_for(tool)
    required = rule.required if rule is not None and rule.required is not None else tool.required
    self_approval = rule.self_approval if rule is not None and rule.self_approval is not None else None
    if self_approval is None:
        self_approval = tool.self_approval if tool.self_approval is not None else agent.self_approval
    needs = tool.needs_approval and (rule is None or rule.needs_approval)
    if needs and required < 1:
        raise PolicyError(f"the approval policy of {tool.name} asks for {required} approvals; at least 1 is needed")
    if needs and not approvers:
        raise PolicyError(f"the approval policy of {tool.name} names nobody to approve this call")
    if needs and required > most_people(approvers):
        raise PolicyError(
            f"the approval policy of {tool.name} asks for {required} distinct approvals, but names only "
            f"{most_people(approvers)} approver(s): {', '.join(approvers)}; nobody could complete it"
        )
    name = (rule.name if rule is not None else "").strip()[:MAX_RULE_CHARS]
    timers = agent.timers_for(tool)
    if rule is not None:
        where = f"the rule {name!r} of {tool.name}"
        own, problems = timers_from(
            where,
            remind_after=rule.remind_after,
            escalate_after=rule.escalate_after,
            escalate_to=rule.escalate_to,
            expire_after=rule.expire_after,
            escalate_channel=rule.escalate_channel,
        )
        timers = own.over(timers)
        problems = problems or timers.problems(where)
        if needs and problems:
            raise PolicyError("; ".join(problems))
    return Requirement(
        needs_approval=needs,
        approvers=tuple(approvers),
        required=required,
        no_self_approval=not self_approval,
        rule=name,
        timers=timers,
        copies=agent.copies_for(tool),
    )


_SLACK_GROUP = re.compile(r"S[A-Z0-9]{2,}")


def most_people(names: Iterable[str]) -> int:
    """The most distinct people an approver list can hold: each name is at most one person (two
    names may be the same one), a Slack user group any number."""
    names = list(names)
    if any(_SLACK_GROUP.fullmatch(n) for n in names):
        return sys.maxsize
    return len({n.strip().translate(_ASCII_LOWER) for n in names})


def exempt(agent: Agent, tool: Tool, arguments: dict[str, Any]) -> bool:
    """True when the tool's policy lets a call with exactly these arguments run without approval."""
    if tool.policy is None:
        return False
    try:
        return not requirement(agent, tool, arguments).needs_approval
    except PolicyError:
        return False


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def allows(allowed: Iterable[str], names: Iterable[str]) -> bool:
    """Who may decide or answer a request, the one rule every surface applies: an empty list lets
    anyone; otherwise one of the names someone holds (their id, their groups, their person's other
    names) must be on it. Compared in ASCII case only: `str.lower` folds look-alikes (the Kelvin
    sign into `k`) into the real letters."""
    wanted = {a.translate(_ASCII_LOWER) for a in allowed}
    return not wanted or bool(wanted & {n.translate(_ASCII_LOWER) for n in names})
