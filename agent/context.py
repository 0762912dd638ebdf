"""Render a thread into the model's context window, compactly and within a token budget.

One system message (the agent's prompt) and one user message holding the whole thread as tagged
events. We do not replay the history as chat turns: tags are denser, they let us show approvals,
denials and errors as what they are, and they let us elide old tool output first when space runs out.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, assert_never

from agent import edits
from agent import thread as t
from agent.definition import Agent
from agent.events import (
    AgentReply,
    ApprovalDecided,
    ApprovalEdited,
    ApprovalProgress,
    ApprovalRequested,
    DeliveryFailed,
    Error,
    Event,
    GrantGiven,
    GrantUsed,
    HumanMessage,
    QuestionAnswered,
    QuestionAsked,
    RequestEscalated,
    RequestExpired,
    RequestReminded,
    ToolCall,
    ToolOutcomeUnknown,
    ToolResult,
    ToolStarted,
)

NEXT_STEP_PROMPT = "What is the next step? Call one tool, or answer in plain text to finish."


def estimate_tokens(text: str) -> int:
    """A cheap, conservative token estimate (about four characters a token for English and JSON)."""
    return len(text) // 4 + 1


def _escape(text: str) -> str:
    # Human and tool text must not be able to close our tags and forge events.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attr(value: str) -> str:
    return _escape(value).replace('"', "&quot;").replace("\n", " ")


def _arguments(arguments: dict[str, Any]) -> str:
    return _escape(json.dumps(arguments, ensure_ascii=False, separators=(", ", ": ")))


SHORT_ID = 8


def render_event(event: Event, *, elide: bool = False, short_ids: bool = False) -> str:
    """One event as a tag. `short_ids` shows call and request ids by their first 8 characters: they
    only pair a call with its result and a request with its answer within one thread, where 8 hex
    characters are unique, and a full 32-character id costs the model about 18 tokens each time."""

    def ref(value: str) -> str:
        return value[:SHORT_ID] if short_ids else value

    match event:
        case HumanMessage(text=text, by=by, channel=channel):
            return f'<human_message from="{_attr(by)}" via="{channel}">\n{_escape(text)}\n</human_message>'
        case ToolCall(tool=tool, arguments=arguments, call_id=call_id):
            return f'<tool_call id="{ref(call_id)}" tool="{tool}">{_arguments(arguments)}</tool_call>'
        case ToolStarted(tool=tool, call_id=call_id, attempt=attempt):
            return f'<tool_started id="{ref(call_id)}" tool="{tool}" attempt="{attempt}"/>'
        case ToolOutcomeUnknown(tool=tool, call_id=call_id, attempts=attempts):
            return (
                f'<tool_outcome_unknown id="{ref(call_id)}" tool="{tool}">started {attempts} time(s), no result '
                "recorded (the process running it stopped): it may or may not have had its effect"
                "</tool_outcome_unknown>"
            )
        case ToolResult(tool=tool, result=result, call_id=call_id):
            body = f"[{len(result)} characters elided]" if elide else _escape(result)
            return f'<tool_result id="{ref(call_id)}" tool="{tool}">\n{body}\n</tool_result>'
        case Error(source=source, message=message, tool=tool, consecutive=consecutive):
            about = f' tool="{tool}"' if tool else ""
            return f'<error source="{source}"{about} in_a_row="{consecutive}">{_escape(message)}</error>'
        case ApprovalRequested(tool=tool, arguments=arguments, reason=reason, request_id=request_id):
            return (
                f'<approval_requested request="{ref(request_id)}" tool="{tool}">{_arguments(arguments)}'
                f"\nreason: {_escape(reason)}</approval_requested>"
            )
        case ApprovalEdited(request_id=request_id, by=by, previous_arguments=before, arguments=after):
            changed = "\n".join(
                f"{_escape(name)}: {_escape(json.dumps(old, ensure_ascii=False))} -> "
                f"{_escape(json.dumps(new, ensure_ascii=False))}"
                for name, (old, new) in edits.changes(before, after).items()
            )
            return (
                f'<approval_edited request="{ref(request_id)}" by="{_attr(by)}">the approver changed the '
                f"arguments; what runs is the edited call\n{changed}\nnow: {_arguments(after)}</approval_edited>"
            )
        case ApprovalDecided(approved=approved, by=by, comment=comment, request_id=request_id):
            tag = "approval_granted" if approved else "approval_denied"
            note = f"\n{_escape(comment)}\n" if comment else ""
            return f'<{tag} request="{ref(request_id)}" by="{_attr(by)}">{note}</{tag}>'
        case QuestionAsked(question=question, options=options, request_id=request_id):
            opts = f' options="{_attr(" | ".join(options))}"' if options else ""
            return f'<question_asked request="{ref(request_id)}"{opts}>{_escape(question)}</question_asked>'
        case QuestionAnswered(answer=answer, by=by, request_id=request_id, choice=choice):
            picked = f' choice="{_attr(choice)}"' if choice is not None else ""
            head = f'<question_answered request="{ref(request_id)}" by="{_attr(by)}"{picked}>'
            return f"{head}\n{_escape(answer)}\n</question_answered>"
        case RequestExpired(request_id=request_id):
            return (
                f'<request_expired request="{ref(request_id)}">nobody answered in time: it is closed and '
                "nothing it asked for runs; tell the requester</request_expired>"
            )
        case RequestReminded(request_id=request_id, awaiting=awaiting):
            return f'<request_reminded request="{ref(request_id)}" awaiting="{_attr(", ".join(awaiting))}"/>'
        case RequestEscalated(request_id=request_id, to=to):
            return f'<request_escalated request="{ref(request_id)}" to="{_attr(", ".join(to))}"/>'
        case AgentReply(text=text):
            return f"<agent_reply>\n{_escape(text)}\n</agent_reply>"
        case GrantUsed(by=by, grant_id=grant_id, until=until, request_id=request_id):
            return (
                f'<approval_granted request="{ref(request_id)}" by="{_attr(by)}">'
                f"allowed by {_escape(by)}'s standing grant {ref(grant_id)}, until {_escape(until)}</approval_granted>"
            )
        case GrantGiven(by=by, scope=scope, until=until, request_id=request_id):
            return f'<grant_given request="{ref(request_id)}" by="{_attr(by)}" scope="{scope}" until="{_attr(until)}"/>'
        case ApprovalProgress(by=by, count=count, required=required, request_id=request_id):
            return f'<approval_progress request="{ref(request_id)}" by="{_attr(by)}" count="{count}" of="{required}"/>'
        case DeliveryFailed(channel=channel, kind=kind, error=error, attempts=attempts):
            head = f'<delivery_failed channel="{channel}" kind="{kind}" attempts="{attempts}">'
            return f"{head}{_escape(error)}</delivery_failed>"
        case _:
            assert_never(event)


@dataclass(frozen=True)
class RenderedContext:
    messages: list[dict[str, Any]]
    tokens: int
    elided_events: int


def render_context(agent: Agent, events: Sequence[Event]) -> RenderedContext:
    """The messages for the next model call, within the agent's token budget.

    Old tool results are elided first (newest kept), then the oldest events are dropped, always
    keeping the first human message (it says what the thread is about).
    """
    events = t.agent_events(events)  # notes are for operators: the model never sees them
    system = agent.system_prompt()
    budget = agent.context_token_budget - estimate_tokens(system) - estimate_tokens(NEXT_STEP_PROMPT)
    elide = [False] * len(events)
    rendered = [render_event(e, short_ids=True) for e in events]
    total = sum(estimate_tokens(r) for r in rendered)

    result_positions = [i for i, e in enumerate(events) if isinstance(e, ToolResult)]
    for i in result_positions[:-1]:
        if total <= budget:
            break
        elide[i] = True
        shorter = render_event(events[i], elide=True, short_ids=True)
        total -= estimate_tokens(rendered[i]) - estimate_tokens(shorter)
        rendered[i] = shorter

    keep = list(range(len(events)))
    dropped = 0
    first_human = next((i for i, e in enumerate(events) if isinstance(e, HumanMessage)), None)
    while total > budget and len(keep) > 2:
        victim = keep[1] if keep[0] == first_human else keep[0]
        keep.remove(victim)
        total -= estimate_tokens(rendered[victim])
        dropped += 1

    lines = [rendered[i] for i in keep]
    if dropped:
        lines.insert(1 if keep and keep[0] == first_human else 0, f'<elided events="{dropped}"/>')
    thread = "<thread>\n" + "\n".join(lines) + "\n</thread>\n\n" + NEXT_STEP_PROMPT
    messages = [{"role": "system", "content": system}, {"role": "user", "content": thread}]
    return RenderedContext(
        messages=messages,
        tokens=estimate_tokens(system) + estimate_tokens(thread),
        elided_events=dropped + sum(elide),
    )
