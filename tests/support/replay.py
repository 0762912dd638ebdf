"""Replay stored threads through the current reducer and say where they disagree.

Two checks, both pure:
- `sequence_problems(agent, events)`: each event the agent side wrote is a possible output of the
  step `next_step` gives for the events before it (a model decision where the model was due, a
  tool's result for exactly the call that was due, nothing while the thread waited or was done),
  and each human decision resolves a request that was pending. A gated call's `tool_started` is
  written when its run was due; its outcome may come any time after (others may append while it
  runs, or after its outcome was given up as unknown: a late result). Ids are unique, each call
  has at most one result, each request at most one decision.
- `state_problems(...)`: the status and pending requests derived from the events equal what the
  database stored beside them (thread status, requests table).

`database_problems(db, agent)` runs both over every thread in a database.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlmodel import col, select

from agent import thread as t
from agent.definition import Agent
from agent.events import (
    AgentReply,
    ApprovalDecided,
    ApprovalRequested,
    Error,
    Event,
    HumanMessage,
    QuestionAnswered,
    QuestionAsked,
    RequestExpired,
    ToolCall,
    ToolResult,
    ToolStarted,
    parse_event,
)
from agent.reducer import Append, CallModel, Idle, RunTool, Wait, next_step
from storage.db import Database
from storage.models import EventRow, RequestRow, ThreadRow

HUMAN_EVENTS = (HumanMessage, ApprovalDecided, QuestionAnswered)
MODEL_OUTPUTS = (AgentReply, ToolCall, ApprovalRequested, QuestionAsked, Error)


def _ids() -> str:
    return "replay"


def sequence_problems(agent: Agent, events: Sequence[Event]) -> list[str]:
    problems: list[str] = []
    if not events or not isinstance(events[0], HumanMessage):
        problems.append("does not start with a human_message")
    problems += _uniqueness_problems(events)
    i = 0
    while i < len(events):
        event = events[i]
        prefix = events[:i]
        where = f"event {i + 1} ({event.type})"
        if isinstance(event, HumanMessage) or t.is_note(event):  # notes: written by the dispatcher, any time
            i += 1
            continue
        if isinstance(event, RequestExpired):  # the clock closes a pending request of either kind
            if event.request_id not in {r.request_id for r in t.pending_requests(prefix)}:
                problems.append(f"{where}: expires request {event.request_id}, which was not pending")
            i += 1
            continue
        if isinstance(event, (ApprovalDecided, QuestionAnswered)):
            pending = {r.request_id: r for r in t.pending_requests(prefix)}
            request = pending.get(event.request_id)
            wanted = ApprovalRequested if isinstance(event, ApprovalDecided) else QuestionAsked
            if not isinstance(request, wanted):
                problems.append(f"{where}: decides request {event.request_id}, which was not pending")
            i += 1
            continue
        if (
            isinstance(event, (ToolResult, Error))
            and event.call_id
            and t.starts(prefix, event.call_id)
            and not t.has_result_since_start(prefix, event.call_id)
        ):
            i += _group_length(agent, events, i)  # the outcome of a call that started
            continue
        step = next_step(agent, prefix, _ids)
        match step:
            case Wait() | Idle():
                problems.append(f"{where}: written by the agent while the thread was {type(step).__name__}")
                i += 1
            case Append(events=expected):
                got = [e.type for e in events[i : i + len(expected)]]
                if got != [e.type for e in expected]:
                    problems.append(f"{where}: a limit should have written {[e.type for e in expected]}, got {got}")
                i += len(expected)
            case CallModel():
                if not isinstance(event, MODEL_OUTPUTS) or (
                    isinstance(event, Error) and event.source not in ("model", "tool_call")
                ):
                    problems.append(f"{where}: not something a model's answer produces")
                i += _group_length(agent, events, i)
            case RunTool(call_id=call_id):
                if isinstance(event, ToolStarted) and event.call_id == call_id:
                    i += 1
                    continue
                if not isinstance(event, (ToolResult, Error)) or event.call_id != call_id:
                    problems.append(f"{where}: the step due was the result of call {call_id}")
                elif isinstance(event, Error) and event.source != "tool":
                    problems.append(f"{where}: a tool's error must have source 'tool'")
                i += _group_length(agent, events, i)
    return problems


def _group_length(agent: Agent, events: Sequence[Event], i: int) -> int:
    """An error that reaches the limit is followed by its question in the same step."""
    event = events[i]
    if (
        isinstance(event, Error)
        and not event.fatal
        and event.consecutive >= agent.max_consecutive_errors
        and i + 1 < len(events)
        and isinstance(events[i + 1], QuestionAsked)
    ):
        return 2
    return 1


def _uniqueness_problems(events: Sequence[Event]) -> list[str]:
    problems: list[str] = []
    calls = Counter(e.call_id for e in events if isinstance(e, (ToolCall, ApprovalRequested)))
    results = Counter(e.call_id for e in events if isinstance(e, (ToolResult, Error)) and e.call_id)
    requests = Counter(e.request_id for e in events if isinstance(e, (ApprovalRequested, QuestionAsked)))
    decisions = Counter(e.request_id for e in events if isinstance(e, (ApprovalDecided, QuestionAnswered)))
    for name, counter in (
        ("call", calls),
        ("result for call", results),
        ("request", requests),
        ("decision for request", decisions),
    ):
        problems += [f"{name} {key} appears {n} times" for key, n in counter.items() if n > 1]
    return problems


def state_problems(events: Sequence[Event], *, status: str, pending: set[str], outcomes: dict[str, str]) -> list[str]:
    """Compare what the events say with what was stored beside them."""
    problems: list[str] = []
    derived = t.status(events)
    if derived != status:
        problems.append(f"stored status {status!r}, events say {derived!r}")
    derived_pending = {r.request_id for r in t.pending_requests(events)}
    if derived_pending != pending:
        problems.append(f"stored pending requests {sorted(pending)}, events say {sorted(derived_pending)}")
    derived_outcomes = request_outcomes(events)
    if derived_outcomes != outcomes:
        problems.append(f"stored request outcomes {outcomes}, events say {derived_outcomes}")
    return problems


def request_outcomes(events: Sequence[Event]) -> dict[str, str]:
    outcomes: dict[str, str] = {}
    for event in events:
        if isinstance(event, (ApprovalRequested, QuestionAsked)):
            outcomes[event.request_id] = "pending"
        elif isinstance(event, ApprovalDecided) and outcomes.get(event.request_id) == "pending":
            outcomes[event.request_id] = "approved" if event.approved else "denied"
        elif isinstance(event, QuestionAnswered) and outcomes.get(event.request_id) == "pending":
            outcomes[event.request_id] = "answered"
        elif isinstance(event, RequestExpired) and outcomes.get(event.request_id) == "pending":
            outcomes[event.request_id] = "expired"
    return outcomes


def database_problems(db: Database, agent: Agent) -> dict[str, list[str]]:
    """Every thread in the database replayed: {thread id: problems}, only threads with problems."""
    found: dict[str, list[str]] = {}
    with db.session() as session:
        threads = list(session.exec(select(ThreadRow)))
        for thread in threads:
            rows = list(
                session.exec(select(EventRow).where(EventRow.thread_id == thread.id).order_by(col(EventRow.seq)))
            )
            requests = list(session.exec(select(RequestRow).where(RequestRow.thread_id == thread.id)))
            problems: list[str] = []
            seqs = [r.seq for r in rows]
            if seqs != list(range(1, len(rows) + 1)) or thread.last_seq != len(rows):
                problems.append(f"sequence numbers {seqs} with last_seq {thread.last_seq}")
            events = [parse_event(r.data) for r in rows]
            problems += sequence_problems(agent, events)
            problems += state_problems(
                events,
                status=thread.status,
                pending={r.id for r in requests if r.status == "pending"},
                outcomes={r.id: r.status for r in requests},
            )
            if problems:
                found[thread.id] = problems
    return found


def thread_record(events: Sequence[Event], **stored: Any) -> dict[str, Any]:
    """What a fixture keeps of a thread: its events and the state stored beside them."""
    return {**stored, "events": [e.model_dump(mode="json") for e in events]}
