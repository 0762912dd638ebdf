"""A gated call whose start is recorded and whose result is not (a crash, a lost lease, a paused
process) is never started again by itself: the thread records that its outcome is unknown and asks
the approvers whether to run it again, unless the tool is idempotent (then it is retried with the
same call id, a bounded number of times). A late result is recorded once and closes that question."""

from __future__ import annotations

import itertools

from agent import Agent
from agent.context import render_event
from agent.events import (
    ApprovalDecided,
    ApprovalRequested,
    Event,
    HumanMessage,
    ToolOutcomeUnknown,
    ToolResult,
    ToolStarted,
    dump_event,
    parse_event,
)
from agent.reducer import MAX_IDEMPOTENT_STARTS, Append, RunTool, Wait, next_step, outcome_to_record
from agent.thread import arguments_digest, status

ARGS = {"name": "payments"}


def make_agent() -> Agent:
    agent = Agent("test", approvers=["alice"])

    @agent.tool(needs_approval=True)
    def charge(name: str) -> str:
        """Charge a card: not safe to repeat."""
        return "charged"

    @agent.tool(needs_approval=True, idempotent=True)
    def restart(name: str) -> str:
        """Restart a service, keyed on the call id."""
        return "restarted"

    return agent


def approved(tool: str) -> list[Event]:
    request = ApprovalRequested(
        request_id="r1",
        call_id="c1",
        tool=tool,
        arguments=ARGS,
        digest=arguments_digest(tool, ARGS),
        approvers=["alice"],
    )
    return [HumanMessage(text="go", by="bob"), request, ApprovalDecided(request_id="r1", approved=True, by="alice")]


def ids() -> object:
    counter = itertools.count(1)
    return lambda: f"id{next(counter)}"


def test_a_started_call_without_result_asks_the_approvers_and_is_not_run() -> None:
    agent = make_agent()
    events = [*approved("charge"), ToolStarted(call_id="c1", tool="charge")]
    assert status(events) == "running"
    step = next_step(agent, events, ids())  # type: ignore[arg-type]
    assert isinstance(step, Append)
    unknown, rerun = step.events
    assert isinstance(unknown, ToolOutcomeUnknown) and unknown.call_id == "c1" and unknown.attempts == 1
    assert (
        isinstance(rerun, ApprovalRequested) and rerun.rerun_of == "c1" and unknown.rerun_request_id == rerun.request_id
    )
    assert rerun.call_id != "c1" and rerun.arguments == ARGS and rerun.approvers == ["alice"]
    assert rerun.digest == arguments_digest("charge", ARGS) and "may or may not have run" in rerun.reason
    events += list(step.events)
    assert status(events) == "waiting" and next_step(agent, events, ids()) == Wait((rerun.request_id,))  # type: ignore[arg-type]
    assert "may or may not have had its effect" in render_event(unknown)

    # Approved again: it runs as the new call, once.
    events.append(ApprovalDecided(request_id=rerun.request_id, approved=True, by="alice"))
    assert next_step(agent, events, ids()) == RunTool(rerun.call_id, "charge", ARGS, approved_by="alice")  # type: ignore[arg-type]
    # (Not idempotent: nothing says its effects are keyed, so no key is carried over.)
    events += [
        ToolStarted(call_id=rerun.call_id, tool="charge"),
        ToolResult(call_id=rerun.call_id, tool="charge", result="x"),
    ]
    assert not isinstance(next_step(agent, events, ids()), (RunTool, Append))  # type: ignore[arg-type]


def test_an_idempotent_call_is_retried_with_the_same_call_id_a_bounded_number_of_times() -> None:
    agent = make_agent()
    events = approved("restart")
    for attempt in range(1, MAX_IDEMPOTENT_STARTS + 1):
        step = next_step(agent, events, ids())  # type: ignore[arg-type]
        assert step == RunTool("c1", "restart", ARGS, approved_by="alice", attempt=attempt)
        events.append(ToolStarted(call_id="c1", tool="restart", attempt=attempt))
    step = next_step(agent, events, ids())  # type: ignore[arg-type]
    assert isinstance(step, Append) and isinstance(step.events[0], ToolOutcomeUnknown)
    assert step.events[0].attempts == MAX_IDEMPOTENT_STARTS

    # Its approvers run it again, twice over: each rerun is a call of its own, but the tool keys its
    # effects on the first call's id (`ctx.call_id`), so an effect the first run did is not doubled.
    new_ids = ids()
    step = next_step(agent, events, new_ids)  # type: ignore[arg-type]
    for round_ in (1, 2):
        assert isinstance(step, Append)
        rerun = step.events[1]
        assert isinstance(rerun, ApprovalRequested) and rerun.call_id != "c1"
        events += [*step.events, ApprovalDecided(request_id=rerun.request_id, approved=True, by="alice")]
        run = next_step(agent, events, new_ids)  # type: ignore[arg-type]
        assert run == RunTool(rerun.call_id, "restart", ARGS, approved_by="alice", effect_key="c1"), round_
        for attempt in range(1, MAX_IDEMPOTENT_STARTS + 1):
            events.append(ToolStarted(call_id=rerun.call_id, tool="restart", attempt=attempt))
        step = next_step(agent, events, new_ids)  # type: ignore[arg-type]


def test_a_late_result_is_recorded_once_and_closes_the_question() -> None:
    agent = make_agent()
    events = [*approved("charge"), ToolStarted(call_id="c1", tool="charge")]
    step = next_step(agent, events, ids())  # type: ignore[arg-type]
    assert isinstance(step, Append)
    events += list(step.events)
    run = RunTool("c1", "charge", ARGS, approved_by="alice")
    late = [ToolResult(call_id="c1", tool="charge", result="charged")]
    recorded = outcome_to_record(events, run, late)
    assert recorded[0] == late[0]
    closed = recorded[1]
    assert (
        isinstance(closed, ApprovalDecided) and not closed.approved and closed.request_id == step.events[1].request_id
    )  # type: ignore[union-attr]
    events += recorded
    assert outcome_to_record(events, run, late) == []  # never twice
    assert status(events) == "running"  # the model tells the humans what happened
    assert not isinstance(next_step(agent, events, ids()), (RunTool, Append))  # type: ignore[arg-type]


def test_the_new_events_round_trip() -> None:
    for event in (
        ToolStarted(call_id="c1", tool="t", attempt=2),
        ToolOutcomeUnknown(call_id="c1", tool="t", attempts=2, rerun_request_id="r2"),
    ):
        assert parse_event(dump_event(event)) == event
