"""An approved call that has no result runs before any further model call, exactly once, whatever
was appended after the decision: replies in the thread, answers, errors, second clicks. A call whose
run was cut short after it started (a crash) is never started again by itself: its approvers are
asked, and only their approval runs it again, as a new call.

The property is checked over generated interleavings of those events, crashes and the approvers'
answers with the worker's steps, each step taken by the real runner (`agent.io.runner.advance`) with a
scripted model."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from agent import Agent, ToolContext
from agent.events import (
    ApprovalDecided,
    ApprovalRequested,
    DeliveryFailed,
    Error,
    Event,
    HumanMessage,
    QuestionAnswered,
    ToolCall,
    ToolOutcomeUnknown,
    ToolResult,
    ToolStarted,
)
from agent.io.runner import advance
from agent.reducer import CallModel, ModelOutput, RunTool, next_step, on_start
from agent.thread import arguments_digest, pending_requests

ARGUMENTS = {"name": "payments"}
REQUEST = ApprovalRequested(
    request_id="r1",
    call_id="c1",
    tool="restart",
    arguments=ARGUMENTS,
    digest=arguments_digest("restart", ARGUMENTS),
    approvers=["alice"],
)
HELLO = HumanMessage(text="restart payments", by="bob")


class Harness:
    """One thread driven by the real runner; counts every run of the gated tool."""

    def __init__(self) -> None:
        self.events: list[Event] = [HELLO, REQUEST]
        self.runs: list[str] = []  # bodies that ran, or may have (a crash after the start)
        self.model_calls = 0
        self.agent = Agent("test", approvers=["alice"])
        counter = itertools.count(1)
        self.ids = lambda: f"id{next(counter)}"

        @self.agent.tool(needs_approval=True)
        def restart(name: str, ctx: ToolContext) -> str:
            """Restart a service."""
            self.runs.append(ctx.call_id)
            return f"restarted {name}"

    async def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> ModelOutput:
        self.model_calls += 1
        if first_decision(self.events) is True:
            assert any(isinstance(e, (ToolResult, ToolOutcomeUnknown)) and e.call_id == "c1" for e in self.events), (
                "the model was asked before the approved call ran"
            )
        return ModelOutput(text="done")

    def step(self) -> bool:
        outcome = asyncio.run(advance(self.agent, "t1", self.events, self, ids=self.ids))
        self.events.extend(outcome.events)
        self.check()
        return bool(outcome.events)

    def crash(self) -> None:
        """The process dies right after a gated call's start was committed (its body may have run)."""
        step = next_step(self.agent, self.events, self.ids)
        if isinstance(step, RunTool):
            self.events.append(on_start(step))
            self.runs.append(step.call_id)
            self.check()

    def approve_pending(self) -> None:
        for request in pending_requests(self.events):
            self.events.append(ApprovalDecided(request_id=request.request_id, approved=True, by="alice"))

    def check(self) -> None:
        for call_id in set(self.runs):
            assert self.runs.count(call_id) <= 1, f"call {call_id} started twice"
        for call_id in self.runs:
            if call_id != "c1":  # a run again is a new call, and only after an approval of it
                request = next(e for e in self.events if isinstance(e, ApprovalRequested) and e.call_id == call_id)
                assert request.rerun_of is not None


def first_decision(events: Sequence[Event]) -> bool | None:
    return next((e.approved for e in events if isinstance(e, ApprovalDecided) and e.request_id == "r1"), None)


people = st.sampled_from(["alice", "bob", "mallory"])
appended = st.one_of(
    st.builds(
        ApprovalDecided,
        request_id=st.sampled_from(["r1", "r1", "r-other"]),
        approved=st.booleans(),
        by=people,
        comment=st.sampled_from(["", "go ahead"]),
    ),
    st.builds(HumanMessage, text=st.sampled_from(["go ahead", "thanks", "wait"]), by=people, channel=st.just("slack")),
    st.builds(QuestionAnswered, request_id=st.sampled_from(["r1", "q9"]), answer=st.just("yes"), by=people),
    st.builds(Error, source=st.just("model"), message=st.just("timeout"), consecutive=st.integers(1, 2)),
    st.builds(DeliveryFailed, channel=st.just("slack"), kind=st.just("reply"), error=st.just("channel_not_found")),
)
actions = st.lists(st.one_of(st.sampled_from(["step", "crash", "approve pending"]), appended), max_size=25)


@settings(max_examples=400, deadline=None)
@given(actions)
def test_an_approved_call_runs_once_before_the_model_is_asked_again(script: list[Any]) -> None:
    harness = Harness()
    for action in script:
        if action == "step":
            harness.step()
        elif action == "crash":
            harness.crash()
        elif action == "approve pending":
            harness.approve_pending()
        else:
            harness.events.append(action)
    for _ in range(40):  # the worker steps until the thread waits or is done
        if not harness.step():
            break
    approved = first_decision(harness.events) is True
    assert harness.runs.count("c1") == (1 if approved else 0)
    if approved:  # it ran, or the thread says its outcome is unknown
        assert any(isinstance(e, (ToolResult, ToolOutcomeUnknown)) and e.call_id == "c1" for e in harness.events)
    assert not any(isinstance(e, ToolStarted) and e.call_id not in harness.runs for e in harness.events)


def test_a_reply_right_after_the_approval_does_not_skip_the_call() -> None:
    # What a click on Approve and a "go ahead" typed in the thread a moment later leave in the log.
    decided = ApprovalDecided(request_id="r1", approved=True, by="alice")
    reply = HumanMessage(text="go ahead", by="alice", channel="slack")
    agent = Harness().agent
    step = next_step(agent, [HELLO, REQUEST, decided, reply], lambda: "x")
    assert step == RunTool("c1", "restart", ARGUMENTS, approved_by="alice")


def test_a_tool_call_followed_by_a_message_still_runs() -> None:
    agent = Agent("test")

    @agent.tool
    def lookup(name: str) -> str:
        """Look it up."""
        return name

    call = ToolCall(call_id="c2", tool="lookup", arguments={"name": "web"})
    events: list[Event] = [HELLO, call, HumanMessage(text="and search?", by="bob")]
    assert next_step(agent, events, lambda: "x") == RunTool("c2", "lookup", {"name": "web"})
    events.append(ToolResult(call_id="c2", tool="lookup", result="web"))
    assert next_step(agent, events, lambda: "x") == CallModel()


def test_a_denial_is_not_undone_by_a_later_approval_in_the_log() -> None:
    denied = ApprovalDecided(request_id="r1", approved=False, by="alice", comment="not now")
    approved = ApprovalDecided(request_id="r1", approved=True, by="mallory")
    agent = Harness().agent
    assert next_step(agent, [HELLO, REQUEST, denied, approved], lambda: "x") == CallModel()
