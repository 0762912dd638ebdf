"""One step of a thread: ask the reducer what is next, do that one thing, return the new events.

The caller records the events and calls again until the thread waits or is done. Between steps
nothing lives in memory, so a step may be taken by any process, after any restart.
"""

from __future__ import annotations

import inspect
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, assert_never

from agent.context import render_context
from agent.definition import Agent
from agent.errors import ModelCallFailed, ToolArgumentsError
from agent.events import Event, ToolStarted
from agent.io.model import ModelClient
from agent.policy import exempt
from agent.reducer import (
    Append,
    CallModel,
    Idle,
    NewId,
    RunTool,
    Step,
    Wait,
    is_gated_call_approved,
    next_step,
    on_error,
    on_model_output,
    on_start,
    on_tool_result,
)
from agent.tools import Tool, ToolContext, render_result

log = logging.getLogger(__name__)


# Commits a gated call's `tool_started` before its body runs; raises when the thread may no longer
# be advanced here (its lease was lost), and the body then does not run.
RecordStart = Callable[[list[Event]], Awaitable[None]]
# Runs a plain function off the event loop (the worker's bounded tool threads) and awaits it.
RunSync = Callable[[Callable[[], Any]], Awaitable[Any]]


def new_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class StepOutcome:
    step: Step
    events: list[Event]

    @property
    def more(self) -> bool:
        """Whether another step may follow right away."""
        return bool(self.events) and not isinstance(self.step, (Wait, Idle))


async def advance(
    agent: Agent,
    thread_id: str,
    events: Sequence[Event],
    model: ModelClient,
    *,
    ids: NewId = new_id,
    record_start: RecordStart | None = None,
    run_sync: RunSync | None = None,
    started: ToolStarted | None = None,
) -> StepOutcome:
    """Take one step. A gated call's start is committed through `record_start` before its body
    runs (without it, the start is returned with the result); plain functions run through
    `run_sync`, off the event loop, when it is given. `started` is a start the caller already
    committed (`start_to_commit`, with the thread's lease) as the last of `events`: the step is the
    one it started, and its body runs at once.

    Whatever the step raises (a prompt that cannot render, a tool schema that cannot be derived, a
    bug) becomes an `error` event that counts toward asking the humans: a step never fails the same
    way silently, poll after poll. What `record_start` raises is the caller's (a lost lease, a
    database outage) and reaches the caller as it was raised: the call did not start."""
    step: Step = CallModel()  # what to record a failure of, if even the reducer raised
    if started is not None:
        if not events or events[-1] != started:
            raise ValueError(f"thread {thread_id}: the start given is not the last event ({started})")
        events = events[:-1]  # the thread the step was decided on
    try:
        step = next_step(agent, events, ids)
        if started is not None and not (isinstance(step, RunTool) and on_start(step) == started):
            raise ValueError(f"thread {thread_id}: the start given ({started}) is not this step's ({step})")
        return await _take(agent, thread_id, events, model, step, ids, record_start, run_sync, started)
    except _StartNotRecorded as failure:
        assert failure.__cause__ is not None
        raise failure.__cause__ from None
    except Exception as exc:
        return StepOutcome(step, _step_failed(agent, thread_id, events, step, ids, exc))


class _StartNotRecorded(Exception):
    """`record_start` failed: not a failure of the step, but of the caller's storage."""


def _step_failed(
    agent: Agent, thread_id: str, events: Sequence[Event], step: Step, ids: NewId, exc: Exception
) -> list[Event]:
    log.exception("thread %s: %s step failed; recorded as an error", thread_id, type(step).__name__)
    call_id, tool = (step.call_id, step.tool) if isinstance(step, RunTool) else (None, None)
    # A failed RunTool step gets the call's id: the call then has an outcome and is never started
    # again by itself (the model sees the error and may ask for it anew).
    return on_error(
        agent,
        events,
        ids,
        source="step",
        call_id=call_id,
        tool=tool,
        message=f"the step failed: {type(exc).__name__}: {exc}",
    )


async def _take(
    agent: Agent,
    thread_id: str,
    events: Sequence[Event],
    model: ModelClient,
    step: Step,
    ids: NewId,
    record_start: RecordStart | None,
    run_sync: RunSync | None,
    started: ToolStarted | None = None,
) -> StepOutcome:
    match step:
        case Wait() | Idle():
            return StepOutcome(step, [])
        case Append(events=appended):
            return StepOutcome(step, list(appended))
        case CallModel():
            context = render_context(agent, events)
            try:
                output = await model.complete(context.messages, agent.tool_schemas())
            except ModelCallFailed as exc:
                return StepOutcome(
                    step,
                    on_error(agent, events, ids, source="model", message=str(exc), fatal=not exc.retryable),
                )
            return StepOutcome(step, on_model_output(agent, events, output, ids))
        case RunTool():
            outcome = await _run_tool(agent, thread_id, events, step, ids, record_start, run_sync, started)
            return StepOutcome(step, outcome)
        case _:
            assert_never(step)


async def _run_tool(
    agent: Agent,
    thread_id: str,
    events: Sequence[Event],
    step: RunTool,
    ids: NewId,
    record_start: RecordStart | None,
    run_sync: RunSync | None,
    committed: ToolStarted | None = None,
) -> list[Event]:
    tool = agent.tools.get(step.tool)
    if tool is None:
        return _tool_error(agent, events, ids, step, f"tool {step.tool!r} no longer exists in agent {agent.name!r}")
    gated = _is_gated(agent, tool, step)
    if gated and not is_gated_call_approved(events, step):
        # Enforced here, in code: the prompt cannot talk its way past this.
        log.error("refused to run %s without a matching human approval (thread %s)", step.tool, thread_id)
        message = f"refused: {step.tool} needs a human approval of exactly these arguments"
        return _tool_error(agent, events, ids, step, message, fatal=True)
    started: list[Event] = []
    if gated and committed is None:
        started = [on_start(step)]
        if record_start is not None:
            try:
                await record_start(started)
            except Exception as exc:
                raise _StartNotRecorded() from exc
            started = []
    key = step.effect_key or step.call_id
    context = ToolContext(thread_id=thread_id, call_id=key, approved_by=step.approved_by, deps=agent.deps)
    return started + await _call(agent, thread_id, events, step, ids, tool, context, run_sync)


def _is_gated(agent: Agent, tool: Tool, step: RunTool) -> bool:
    return tool.needs_approval and not (step.approved_by is None and exempt(agent, tool, step.arguments))


def start_to_commit(agent: Agent, events: Sequence[Event]) -> ToolStarted | None:
    """The `tool_started` to commit now, when the thread's next step is an approved gated call that
    will run: committed with the lease the worker takes, its body can run without a commit of its own."""
    try:
        step = next_step(agent, events, new_id)
    except Exception:
        return None  # the step itself records the failure, as it would have anyway
    if not isinstance(step, RunTool) or (tool := agent.tools.get(step.tool)) is None:
        return None
    if not _is_gated(agent, tool, step) or not is_gated_call_approved(events, step):
        return None
    return on_start(step)


async def _call(
    agent: Agent,
    thread_id: str,
    events: Sequence[Event],
    step: RunTool,
    ids: NewId,
    tool: Tool,
    context: ToolContext,
    run_sync: RunSync | None,
) -> list[Event]:
    try:
        result = await run_tool(tool, step.arguments, context, run_sync)
    except ToolArgumentsError as exc:
        return _tool_error(agent, events, ids, step, str(exc))
    except Exception as exc:  # a tool's failure is data for the model, not a crash of the bot
        log.warning("tool %s failed in thread %s: %r", step.tool, thread_id, exc)
        return _tool_error(agent, events, ids, step, f"{type(exc).__name__}: {exc}")
    return on_tool_result(step, result)


def _tool_error(
    agent: Agent, events: Sequence[Event], ids: NewId, step: RunTool, message: str, *, fatal: bool = False
) -> list[Event]:
    """A failure of this call, as the model and the thread's status will see it."""
    return on_error(
        agent, events, ids, source="tool", call_id=step.call_id, tool=step.tool, message=message, fatal=fatal
    )


async def run_tool(tool: Tool, arguments: dict[str, Any], context: ToolContext, run_sync: RunSync | None = None) -> str:
    """Call the tool's function with validated arguments; the result as the model will read it.

    A plain function goes through `run_sync` (off the event loop) when given.
    """
    kwargs = dict(tool.validate(arguments))
    if tool.context_parameter:
        kwargs[tool.context_parameter] = context
    if run_sync is not None and not inspect.iscoroutinefunction(tool.func):
        result = await run_sync(partial(tool.func, **kwargs))
    else:
        result = tool.func(**kwargs)
    if inspect.isawaitable(result):
        result = await result
    return render_result(result)
