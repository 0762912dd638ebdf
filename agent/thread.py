"""Facts derived from a thread's events: its status, what it waits for, how it is going.

Nothing here is stored: the event log is the only state, and these are pure functions over it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any, Literal

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

Status = Literal["running", "waiting", "done", "failed"]
HumanRequest = ApprovalRequested | QuestionAsked

# Events by which a human hands the turn back to the agent: a new turn starts after each.
TURN_STARTERS = (HumanMessage, ApprovalDecided, QuestionAnswered, RequestExpired)


def arguments_digest(tool: str, arguments: dict[str, Any]) -> str:
    """A digest of exactly what would run; approvals are bound to it."""
    canonical = json.dumps({"tool": tool, "arguments": arguments}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


# Events recorded for the humans and operators only: the agent's state and next step ignore them.
NOTES = (DeliveryFailed, ApprovalProgress, RequestReminded, RequestEscalated, GrantGiven)
# What lets a gated call run: a human's approval of its request, or a standing grant used for it.
Approval = ApprovalDecided | GrantUsed


def is_note(event: Event) -> bool:
    return isinstance(event, NOTES)


def agent_events(events: Sequence[Event]) -> list[Event]:
    """The events the agent acts on: all but notes."""
    return [e for e in events if not is_note(e)]


def last_agent_event(events: Sequence[Event]) -> Event | None:
    return next((e for e in reversed(events) if not is_note(e)), None)


def pending_requests(events: Sequence[Event]) -> list[HumanRequest]:
    open_requests: dict[str, HumanRequest] = {}
    for event in events:
        if isinstance(event, (ApprovalRequested, QuestionAsked)):
            open_requests[event.request_id] = event
        elif isinstance(event, (ApprovalDecided, QuestionAnswered, RequestExpired, GrantUsed)):
            open_requests.pop(event.request_id, None)
    return list(open_requests.values())


def status(events: Sequence[Event]) -> Status:
    return status_from(has_pending=bool(pending_requests(events)), last=last_agent_event(events))


def status_from(*, has_pending: bool, last: Event | None) -> Status:
    """The status from the two facts it depends on, so storage can derive it without a full load."""
    if has_pending:
        return "waiting"
    if isinstance(last, AgentReply) and last.final:
        return "done"
    if isinstance(last, Error) and last.fatal:
        return "failed"
    return "running"


def consecutive_errors(events: Sequence[Event]) -> int:
    """How many errors in a row the thread has had, ignoring the calls that led to them."""
    for event in reversed(agent_events(events)):
        if isinstance(event, Error):
            return event.consecutive
        if not isinstance(event, ToolCall):
            return 0
    return 0


def steps_this_turn(events: Sequence[Event]) -> int:
    """Model decisions taken since a human last handed the turn to the agent."""
    steps = 0
    for event in reversed(events):
        if isinstance(event, TURN_STARTERS):
            break
        if isinstance(event, (ToolCall, Error)) and not (isinstance(event, Error) and event.source == "tool"):
            steps += 1
    return steps


def participants(events: Sequence[Event]) -> list[str]:
    seen: dict[str, None] = {}
    for event in events:
        if isinstance(event, HumanMessage):
            seen.setdefault(event.by, None)
            for human in event.humans:
                seen.setdefault(human, None)
    return list(seen)


def requested_by(events: Sequence[Event]) -> str:
    for event in events:
        if isinstance(event, HumanMessage):
            return event.by
    return ""


def find_approval(events: Sequence[Event], request_id: str) -> ApprovalRequested | None:
    for event in events:
        if isinstance(event, ApprovalRequested) and event.request_id == request_id:
            return event
    return None


def edited(request: ApprovalRequested, edit: ApprovalEdited) -> ApprovalRequested:
    """The request as an approver's edit left it: what runs is the edited call, bound by its digest."""
    return request.model_copy(update={"arguments": dict(edit.arguments), "digest": edit.digest})


def as_edited(events: Sequence[Event], request: ApprovalRequested) -> ApprovalRequested:
    """The request as the edits recorded on it left it (before its decision)."""
    for event in events:
        if isinstance(event, ApprovalEdited) and event.request_id == request.request_id:
            request = edited(request, event)
        elif isinstance(event, ApprovalDecided) and event.request_id == request.request_id:
            break
    return request


def approval_for_call(events: Sequence[Event], call_id: str) -> tuple[ApprovalRequested, Approval] | None:
    """The request (as edited, if an approver edited it) and the approving decision for a gated call,
    if a human approved it (or a standing grant was used for it, `grant_used`).

    The first decision on a request is the decision: a later one (which storage never records, but
    a log may carry) changes nothing, so a denial followed by an approval is still a denial.
    """
    requested: ApprovalRequested | None = None
    for event in events:
        if isinstance(event, ApprovalRequested) and event.call_id == call_id:
            requested = event
        elif isinstance(event, ApprovalEdited) and requested is not None and event.request_id == requested.request_id:
            requested = edited(requested, event)
        elif requested is not None and isinstance(event, ApprovalDecided) and event.request_id == requested.request_id:
            return (requested, event) if event.approved else None
        elif requested is not None and isinstance(event, GrantUsed) and event.request_id == requested.request_id:
            return (requested, event) if event.call_id == call_id else None
    return None


def has_result(events: Sequence[Event], call_id: str) -> bool:
    """Whether the call's result (or its error) is recorded."""
    return any(isinstance(e, (ToolResult, Error)) and e.call_id == call_id for e in events)


def has_result_since_start(events: Sequence[Event], call_id: str) -> bool:
    """Whether a result (or error) was recorded for the call after its latest start: the outcome
    of the run that started last, whoever recorded it."""
    last_start = max(
        (i for i, e in enumerate(events) if isinstance(e, ToolStarted) and e.call_id == call_id), default=-1
    )
    return any(isinstance(e, (ToolResult, Error)) and e.call_id == call_id for e in events[last_start + 1 :])


def settled_calls(events: Sequence[Event]) -> set[str]:
    """The call ids that are over for the agent: a result, an error, or an unknown outcome."""
    return {
        e.call_id for e in events if isinstance(e, (ToolResult, Error, ToolOutcomeUnknown)) and e.call_id is not None
    }


def starts(events: Sequence[Event], call_id: str) -> int:
    """How often the call's body was recorded as started."""
    return sum(1 for e in events if isinstance(e, ToolStarted) and e.call_id == call_id)


def pending_rerun(events: Sequence[Event], call_id: str) -> ApprovalRequested | None:
    """The pending request asking whether to run again the call `call_id`, if there is one."""
    return next(
        (r for r in pending_requests(events) if isinstance(r, ApprovalRequested) and r.rerun_of == call_id), None
    )


def unfinished_call(events: Sequence[Event]) -> ToolCall | tuple[ApprovalRequested, Approval] | None:
    """The oldest call the agent decided on (a tool call, or a gated call a human approved) that has
    no outcome yet. It runs before anything else: whatever was appended after it (a reply in the
    thread, a second click) must not make the agent forget it.

    A tool call counts by its place: one with no outcome after it, and not followed by an approval
    request for it (then the approval decides), is due even when its id was used before (a replayed
    call id is then judged by the runner, which refuses what no approval covers)."""
    settled = settled_calls(events)
    outcome_at: dict[str, int] = {}
    requested_at: dict[str, int] = {}
    for i, event in enumerate(events):
        if isinstance(event, (ToolResult, Error, ToolOutcomeUnknown)) and event.call_id is not None:
            outcome_at[event.call_id] = i
        elif isinstance(event, ApprovalRequested):
            requested_at[event.call_id] = i
    decided: set[str] = set()
    requests: dict[str, ApprovalRequested] = {}
    for i, event in enumerate(events):
        if isinstance(event, ToolCall):
            if outcome_at.get(event.call_id, -1) < i and requested_at.get(event.call_id, -1) < i:
                return event
        elif isinstance(event, ApprovalRequested):
            requests[event.request_id] = event
        elif isinstance(event, ApprovalEdited) and event.request_id in requests and event.request_id not in decided:
            requests[event.request_id] = edited(requests[event.request_id], event)
        elif isinstance(event, ApprovalDecided) and event.request_id not in decided:
            decided.add(event.request_id)  # the first decision on a request is the decision
            request = requests.get(event.request_id)
            if event.approved and request is not None and request.call_id not in settled:
                return request, event
        elif isinstance(event, GrantUsed) and event.request_id not in decided:
            decided.add(event.request_id)
            request = requests.get(event.request_id)
            if request is not None and request.call_id == event.call_id and request.call_id not in settled:
                return request, event
    return None
