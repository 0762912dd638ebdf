"""The stateless reducer: from a thread's events, the next step and the events it produces.

Everything here is pure. `next_step` says what to do next; the `on_*` functions turn what happened
(a model's answer, a tool's result, a failure) into new events. `agent.io.runner` performs the I/O in
between; any replica can run any step, because the events are the whole state.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent import thread as t
from agent.definition import ASK_HUMAN, Agent
from agent.errors import ToolArgumentsError
from agent.events import (
    AgentReply,
    ApprovalDecided,
    ApprovalRequested,
    Error,
    Event,
    GrantUsed,
    QuestionAsked,
    ToolCall,
    ToolOutcomeUnknown,
    ToolResult,
    ToolStarted,
)
from agent.policy import PolicyError, requirement
from agent.tools import REASON_FIELD

NewId = Callable[[], str]
MAX_RESULT_CHARS = 4000
MAX_ERROR_CHARS = 400
MAX_OPTIONS = 20  # a question's choices: as many as a Slack message shows as buttons
MAX_OPTION_CHARS = 200
# An idempotent call interrupted this often (each time after it started) is not retried again: a
# tool that kills its process every time must not loop forever. Its approvers are asked instead.
MAX_IDEMPOTENT_STARTS = 3


@dataclass(frozen=True)
class CallModel:
    pass


@dataclass(frozen=True)
class RunTool:
    call_id: str
    tool: str
    arguments: dict[str, Any]
    approved_by: str | None = None
    attempt: int = 1  # a gated call's start, recorded before its body runs
    # What an idempotent tool keys its effects on (`ctx.call_id`): the first call's id when this
    # call runs it again after its outcome was unknown, so an effect that did happen is not doubled.
    effect_key: str | None = None


@dataclass(frozen=True)
class Wait:
    request_ids: tuple[str, ...]


@dataclass(frozen=True)
class Idle:
    status: t.Status


@dataclass(frozen=True)
class Append:
    """Events to record without any I/O (a limit was reached)."""

    events: tuple[Event, ...]


Step = CallModel | RunTool | Wait | Idle | Append


@dataclass(frozen=True)
class ModelToolCall:
    name: str
    arguments_json: str
    id: str = ""


@dataclass(frozen=True)
class ModelOutput:
    text: str | None = None
    tool_calls: tuple[ModelToolCall, ...] = field(default_factory=tuple)


def next_step(agent: Agent, events: Sequence[Event], new_id: NewId) -> Step:
    events = t.agent_events(events)
    pending = t.pending_requests(events)
    if pending:
        return Wait(tuple(r.request_id for r in pending))
    if not events:
        return Idle("running")
    status = t.status(events)
    if status in ("done", "failed"):
        return Idle(status)
    # A call decided on runs before the model is asked anything, even when events came after it.
    unfinished = t.unfinished_call(events)
    if isinstance(unfinished, ToolCall):
        return RunTool(unfinished.call_id, unfinished.tool, dict(unfinished.arguments))
    if unfinished is not None:
        request, decision = unfinished
        started = t.starts(events, request.call_id)
        tool = agent.tools.get(request.tool)
        if started and not (tool is not None and tool.idempotent and started < MAX_IDEMPOTENT_STARTS):
            return Append(_outcome_unknown(request, started, new_id))
        args = dict(request.arguments)
        key = _first_call_id(events, request) if tool is not None and tool.idempotent else None
        return RunTool(
            request.call_id, request.tool, args, approved_by=decision.by, attempt=started + 1, effect_key=key
        )
    if t.steps_this_turn(events) >= agent.max_steps_per_turn:
        return Append(
            (
                Error(
                    source="limit",
                    message=f"stopped after {agent.max_steps_per_turn} steps without finishing",
                    consecutive=t.consecutive_errors(events) + 1,
                ),
                QuestionAsked(
                    request_id=new_id(),
                    question=(
                        f"I have taken {agent.max_steps_per_turn} steps on this without finishing. "
                        "Should I keep going, or what should I do differently?"
                    ),
                    answerers=agent.answerers_for(t.participants(events)),
                    **agent.question_clock(),
                    copies=list(agent.copies),
                ),
            )
        )
    return CallModel()


def _first_call_id(events: Sequence[Event], request: ApprovalRequested) -> str | None:
    """The id of the first call that `request` runs again (through any number of reruns), or None
    when it is a first call."""
    if request.rerun_of is None:
        return None
    requests = {e.call_id: e for e in events if isinstance(e, ApprovalRequested)}
    first, seen = request.rerun_of, {request.call_id}
    while first in requests and requests[first].rerun_of is not None and first not in seen:
        seen.add(first)
        first = str(requests[first].rerun_of)
    return first


def _outcome_unknown(request: ApprovalRequested, started: int, new_id: NewId) -> tuple[Event, ...]:
    """An approved call started and has no result: it is never started again by itself. The thread
    records that its outcome is unknown and asks its approvers whether to run it again (as a new
    call, with a new id, bound to the same arguments)."""
    rerun = ApprovalRequested(
        request_id=new_id(),
        call_id=new_id(),
        tool=request.tool,
        arguments=dict(request.arguments),
        digest=request.digest,
        reason=(
            f"The approved {request.tool} call started but no result was recorded: the process running it "
            "stopped (a crash, a restart, or it lost its lease). It may or may not have run. Run it again?"
        ),
        approvers=list(request.approvers),
        rerun_of=request.call_id,
        required=request.required,
        no_self_approval=request.no_self_approval,
        rule=request.rule,
        remind_after=request.remind_after,
        escalate_after=request.escalate_after,
        escalate_to=list(request.escalate_to),
        expire_after=request.expire_after,
        escalate_channel=request.escalate_channel,
        copies=list(request.copies),
    )
    unknown = ToolOutcomeUnknown(
        call_id=request.call_id, tool=request.tool, attempts=started, rerun_request_id=rerun.request_id
    )
    return (unknown, rerun)


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 20] + f"... [{len(text) - limit + 20} more]"


def on_error(
    agent: Agent,
    events: Sequence[Event],
    new_id: NewId,
    *,
    source: Any,
    message: str,
    call_id: str | None = None,
    tool: str | None = None,
    fatal: bool = False,
) -> list[Event]:
    """A compact error event; after too many in a row, a question to the thread's humans."""
    consecutive = t.consecutive_errors(events) + 1
    error = Error(
        source=source,
        message=_truncate(message, MAX_ERROR_CHARS),
        consecutive=consecutive,
        call_id=call_id,
        tool=tool,
        fatal=fatal,
    )
    if fatal or consecutive < agent.max_consecutive_errors:
        return [error]
    question = QuestionAsked(
        request_id=new_id(),
        question=(
            f"I ran into {consecutive} errors in a row and stopped (last: {error.message}). How should I proceed?"
        ),
        answerers=agent.answerers_for(t.participants(events)),
        **agent.question_clock(),
        copies=list(agent.copies),
    )
    return [error, question]


def on_model_output(agent: Agent, events: Sequence[Event], output: ModelOutput, new_id: NewId) -> list[Event]:
    if not output.tool_calls:
        if output.text and output.text.strip():
            return [AgentReply(text=output.text.strip(), final=True)]
        return on_error(agent, events, new_id, source="model", message="empty answer: no text and no tool call")

    call = output.tool_calls[0]
    tool = agent.tools.get(call.name)
    if tool is None and not (call.name == ASK_HUMAN and agent.ask_human):
        known = ", ".join([*agent.tools, *([ASK_HUMAN] if agent.ask_human else [])])
        return on_error(
            agent,
            events,
            new_id,
            source="tool_call",
            tool=call.name,
            message=f"unknown tool {call.name!r}; available: {known}",
        )
    try:
        arguments = json.loads(call.arguments_json or "{}")
    except json.JSONDecodeError as exc:
        return on_error(
            agent,
            events,
            new_id,
            source="tool_call",
            tool=call.name,
            message=f"arguments are not valid JSON ({exc.msg} at position {exc.pos})",
        )
    if not isinstance(arguments, dict):
        return on_error(
            agent,
            events,
            new_id,
            source="tool_call",
            tool=call.name,
            message="arguments must be a JSON object",
        )

    if tool is None:
        return _ask_human(agent, events, arguments, new_id)

    reason = ""
    if tool.needs_approval:
        # The schema requires a reason for a gated tool; a call without one is refused like any other
        # call that does not fit its schema, so approvers always read why.
        given = arguments.pop(REASON_FIELD, None)
        if not isinstance(given, str) or not given.strip():
            return on_error(
                agent,
                events,
                new_id,
                source="tool_call",
                tool=tool.name,
                message=f"invalid arguments for {tool.name}: {REASON_FIELD}: a non-empty string is required "
                "(why you want to run this now; the approvers read it)",
            )
        reason = given.strip()
    try:
        validated = tool.validate(arguments)
    except ToolArgumentsError as exc:
        return on_error(agent, events, new_id, source="tool_call", tool=tool.name, message=str(exc))

    if not tool.needs_approval:
        return [ToolCall(call_id=new_id(), tool=tool.name, arguments=validated)]
    try:
        needs = requirement(agent, tool, validated)
    except PolicyError as exc:
        return on_error(agent, events, new_id, source="tool_call", tool=tool.name, message=f"{exc}; nothing was run")
    if not needs.needs_approval:
        return [ToolCall(call_id=new_id(), tool=tool.name, arguments=validated, rule=needs.rule)]
    size = len(json.dumps(validated, ensure_ascii=False))
    if size > agent.max_approval_argument_chars:
        return on_error(
            agent,
            events,
            new_id,
            source="tool_call",
            tool=tool.name,
            message=(
                f"the arguments of {tool.name} are {size} characters, more than the "
                f"{agent.max_approval_argument_chars} a human can review; nothing was asked or run. "
                "Call it again with shorter arguments."
            ),
        )
    call_id = new_id()
    return [
        ApprovalRequested(
            request_id=new_id(),
            call_id=call_id,
            tool=tool.name,
            arguments=validated,
            digest=t.arguments_digest(tool.name, validated),
            reason=reason,
            approvers=list(needs.approvers),
            required=needs.required,
            no_self_approval=needs.no_self_approval,
            rule=needs.rule,
            **needs.timers.event_fields(),
            edit_schema=tool.edit_schema(),
            copies=list(needs.copies),
        )
    ]


def _ask_human(agent: Agent, events: Sequence[Event], arguments: dict[str, Any], new_id: NewId) -> list[Event]:
    question = arguments.get("question")
    options = arguments.get("options") or []
    if not isinstance(question, str) or not question.strip():
        return on_error(
            agent,
            events,
            new_id,
            source="tool_call",
            tool=ASK_HUMAN,
            message="ask_human needs a non-empty 'question' string",
        )
    if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
        return on_error(
            agent,
            events,
            new_id,
            source="tool_call",
            tool=ASK_HUMAN,
            message="ask_human 'options' must be a list of strings",
        )
    free_text = arguments.get("allow_free_text", True)
    if not isinstance(free_text, bool):
        message = "ask_human 'allow_free_text' must be true or false"
        return on_error(agent, events, new_id, source="tool_call", tool=ASK_HUMAN, message=message)
    options = list(dict.fromkeys(o.strip()[:MAX_OPTION_CHARS] for o in options if o.strip()))[:MAX_OPTIONS]
    if not free_text and not options:
        return on_error(
            agent,
            events,
            new_id,
            source="tool_call",
            tool=ASK_HUMAN,
            message="ask_human with allow_free_text false needs 'options' to choose from",
        )
    answerers = agent.answerers_for(t.participants(events))
    return [
        QuestionAsked(
            request_id=new_id(),
            question=question.strip(),
            options=options,
            answerers=answerers,
            **agent.question_clock(),
            copies=list(agent.copies),
            allow_free_text=free_text or not options,
        )
    ]


def on_tool_result(step: RunTool, result: str) -> list[Event]:
    return [ToolResult(call_id=step.call_id, tool=step.tool, result=_truncate(result, MAX_RESULT_CHARS))]


def on_start(step: RunTool) -> ToolStarted:
    return ToolStarted(call_id=step.call_id, tool=step.tool, attempt=step.attempt)


def outcome_to_record(events: Sequence[Event], step: RunTool, outcome: Sequence[Event]) -> list[Event]:
    """What to append for a started call's outcome, given the thread as it is now.

    A call's outcome is recorded once: nothing when one is already there (another worker retried
    an idempotent call and finished first). A result that comes after the thread gave the outcome
    up as unknown (a process paused past its lease) is still recorded, and the pending question
    whether to run the call again is closed: it ran."""
    if t.has_result_since_start(events, step.call_id):
        return []
    rerun = t.pending_rerun(events, step.call_id)
    if rerun is None:
        return list(outcome)
    closed = ApprovalDecided(
        request_id=rerun.request_id,
        approved=False,
        by="signoff",
        comment="not run again: the first run's outcome arrived after all",
        digest=rerun.digest,
    )
    return [*outcome, closed]


def is_gated_call_approved(events: Sequence[Event], step: RunTool) -> bool:
    """True only when a human approved exactly this call with exactly these arguments, or a standing
    grant was recorded as used for exactly this call (`grant_used`, bound to its digest)."""
    found = t.approval_for_call(events, step.call_id)
    if found is None:
        return False
    request, decision = found
    if isinstance(decision, GrantUsed) and decision.digest != request.digest:
        return False  # a grant is used for exactly the digest of the call it let run, never for none
    if decision.digest and decision.digest != request.digest:
        return False  # the human approved other arguments than this request carries
    return request.tool == step.tool and request.digest == t.arguments_digest(step.tool, step.arguments)


__all__ = [
    "Append",
    "ApprovalRequested",
    "CallModel",
    "Idle",
    "ModelOutput",
    "ModelToolCall",
    "RunTool",
    "Step",
    "Wait",
    "is_gated_call_approved",
    "on_start",
    "outcome_to_record",
    "next_step",
    "on_error",
    "on_model_output",
    "on_tool_result",
]
