"""Standing grants where the agent meets the channels: what a request's approver may grant (the
offers on a card, a mail, a form), and the terms of a grant asked for, checked against the tool's
declaration and the request's policy before anything is recorded."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime

from agent.definition import Agent
from agent.grants import SCOPE_LABELS, GrantRefused, grant_terms, span
from channels.base import GrantAsk, GrantOffer, HumanRequestView
from storage.grants import GrantDraft, new_grant_id
from storage.models import RequestRow


def may_offer(agent: Agent, tool_name: str | None) -> bool:
    tool = agent.tools.get(tool_name or "")
    return tool is not None and tool.grants is not None and bool(tool.grants.scopes())


def offers_for(agent: Agent, tool_name: str | None, required: int) -> tuple[GrantOffer, ...]:
    """The grants an approver may give with an approval of a call of this tool (none when it needs
    several approvers: one person cannot grant for it)."""
    tool = agent.tools.get(tool_name or "")
    if tool is None or tool.grants is None or required > 1:
        return ()
    offers = []
    for scope in tool.grants.scopes():
        longest = tool.grants.longest(scope)
        assert longest is not None
        offers.append(GrantOffer(scope, f"{SCOPE_LABELS[scope]}, up to {span(longest)}", int(longest.total_seconds())))
    return tuple(offers)


def with_offers(view: HumanRequestView, agent: Agent, thread_agent: str) -> HumanRequestView:
    """The view with the grants its approver may give: only on the agent's own threads (a request
    made through /api/approvals names an action, not this agent's tool, even when the names agree)."""
    if view.kind != "approval" or view.status != "pending" or thread_agent != agent.name:
        return view
    return dataclasses.replace(view, grant_offers=offers_for(agent, view.tool, view.required))


def grant_view(agents: Mapping[str, Agent], view: HumanRequestView, thread_agent: str) -> HumanRequestView:
    """`with_offers` with the thread's own agent, among several (none known: no offers)."""
    agent = agents.get(thread_agent)
    return with_offers(view, agent, thread_agent) if agent is not None else view


def draft(
    agent: Agent, request: RequestRow, thread_agent: str, ask: GrantAsk, by: str, held: list[str], now: datetime
) -> GrantDraft:
    """The grant to record with this approval, or GrantRefused saying why it cannot be given."""
    if request.kind != "approval" or not request.tool or thread_agent != agent.name:
        raise GrantRefused("only an approval of this agent's tool call can carry a standing grant")
    tool = agent.tools.get(request.tool)
    until = ask.until if ask.until is not None else (now + ask.within if ask.within is not None else None)
    terms = grant_terms(
        tool.grants if tool is not None else None,
        tool=request.tool,
        scope=ask.scope,
        until=until,
        now=now,
        thread_id=request.thread_id,
        arguments=dict(request.arguments),
        digest=request.digest or "",
        required=request.required or 1,
    )
    return GrantDraft(grant_id=new_grant_id(), agent=agent.name, terms=terms, identities=tuple([by, *held]))
