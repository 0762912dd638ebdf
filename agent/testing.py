"""Test doubles for people writing agents: a scripted model and an in-memory conversation.

Unit-test an agent's tools, prompts and approval rules without a server, a database or a model
key. `ScriptedModel` answers each model call with the next scripted step (or from a function of
the context it was given) and keeps every call for assertions. `Conversation` runs a thread in
memory through the same reducer and runner that `signoff serve` uses, so a gated tool still runs
only after a recorded approval of exactly its arguments:

    model = ScriptedModel(call("restart_service", name="payments", reason="it is stuck"), reply("Restarted."))
    talk = Conversation(agent, model)
    await talk.say("restart payments", by="bob@example.com")
    assert talk.waiting_for_approval().tool == "restart_service"
    await talk.approve(by="alice@example.com")
    assert talk.last_reply() == "Restarted."
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from agent import edits
from agent import thread as t
from agent.definition import Agent
from agent.errors import ModelCallFailed
from agent.events import (
    AgentReply,
    ApprovalDecided,
    ApprovalEdited,
    ApprovalProgress,
    ApprovalRequested,
    Event,
    HumanMessage,
    QuestionAnswered,
    QuestionAsked,
    RequestExpired,
)
from agent.io.runner import advance
from agent.reducer import Idle, ModelOutput, ModelToolCall, Wait

Answer = ModelOutput | Callable[[list[dict[str, Any]], list[dict[str, Any]]], ModelOutput]


def reply(text: str) -> ModelOutput:
    """The model answers with text: the agent's final reply."""
    return ModelOutput(text=text)


def call(tool: str, **arguments: Any) -> ModelOutput:
    """The model calls a tool (or `ask_human`) with these arguments; add `reason=` for a gated tool."""
    return ModelOutput(tool_calls=(ModelToolCall(name=tool, arguments_json=json.dumps(arguments)),))


@dataclass(frozen=True)
class ModelCall:
    """What the agent sent to the model: the rendered context and the tool schemas."""

    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]]

    @property
    def tool_names(self) -> list[str]:
        return [str(schema["function"]["name"]) for schema in self.tools]

    @property
    def text(self) -> str:
        """Every message's content, joined: what the model read."""
        return "\n".join(str(m.get("content") or "") for m in self.messages)


class ScriptedModel:
    """A `ModelClient` that answers from a script, in order; running out of script is a failure."""

    def __init__(self, *answers: Answer) -> None:
        self._answers = list(answers)
        self.calls: list[ModelCall] = []

    def then(self, *answers: Answer) -> ScriptedModel:
        """Add answers to the end of the script."""
        self._answers.extend(answers)
        return self

    async def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> ModelOutput:
        self.calls.append(ModelCall(messages, tools))
        if not self._answers:
            raise ModelCallFailed(
                f"the scripted model has no answer for call {len(self.calls)}; add one to the script",
                retryable=False,
            )
        answer = self._answers.pop(0)
        return answer(messages, tools) if callable(answer) else answer


class Conversation:
    """One thread, in memory, advanced the way the worker advances it."""

    def __init__(self, agent: Agent, model: ScriptedModel, *, thread_id: str = "test-thread", max_steps: int = 50):
        self.agent = agent
        self.model = model
        self.thread_id = thread_id
        self.max_steps = max_steps
        self.events: list[Event] = []
        self._ids = 0

    def _new_id(self) -> str:
        self._ids += 1
        return f"id{self._ids}"

    @property
    def status(self) -> t.Status:
        return t.status(self.events)

    async def say(self, text: str, *, by: str = "user@example.com", channel: str = "api") -> list[Event]:
        """A human writes; returns the events the agent recorded until it waits or finishes."""
        return await self._append_and_run(HumanMessage(text=text, by=by, channel=channel))

    async def approve(
        self, *, by: str, comment: str = "", request_id: str | None = None, arguments: dict[str, Any] | None = None
    ) -> list[Event]:
        """Approve; `arguments` changes those arguments first, as an approver's edit (checked
        against the request's schema and the tool, raising `agent.edits.EditError` or
        `ToolArgumentsError` when they do not fit)."""
        return await self._decide(True, by=by, comment=comment, request_id=request_id, arguments=arguments)

    async def deny(self, *, by: str, comment: str = "", request_id: str | None = None) -> list[Event]:
        return await self._decide(False, by=by, comment=comment, request_id=request_id)

    async def answer(self, text: str, *, by: str, request_id: str | None = None) -> list[Event]:
        question = self.waiting_for_answer() if request_id is None else None
        target = request_id or (question.request_id if question else None)
        if target is None:
            raise AssertionError("the thread is not waiting for an answer")
        return await self._append_and_run(QuestionAnswered(request_id=target, answer=text, by=by))

    async def expire(self, *, request_id: str | None = None) -> list[Event]:
        """The request's `expire_after` passes (the oldest pending request, else `request_id`): it
        closes as expired, as `serve`'s clock closes it, and the agent takes its turn."""
        pending = t.pending_requests(self.events)
        target = request_id or (pending[0].request_id if pending else None)
        if target is None or target not in {r.request_id for r in pending}:
            raise AssertionError(f"no pending request {request_id or ''} to expire (status {self.status})")
        return await self._append_and_run(RequestExpired(request_id=target))

    def waiting_for_approval(self) -> ApprovalRequested:
        pending = [r for r in t.pending_requests(self.events) if isinstance(r, ApprovalRequested)]
        if not pending:
            raise AssertionError(f"the thread waits for no approval (status {self.status})")
        return t.as_edited(self.events, pending[0])

    def waiting_for_answer(self) -> QuestionAsked:
        pending = [r for r in t.pending_requests(self.events) if isinstance(r, QuestionAsked)]
        if not pending:
            raise AssertionError(f"the thread waits for no answer (status {self.status})")
        return pending[0]

    def last_reply(self) -> str | None:
        replies = [e for e in self.events if isinstance(e, AgentReply)]
        return replies[-1].text if replies else None

    async def _decide(
        self,
        approved: bool,
        *,
        by: str,
        comment: str,
        request_id: str | None,
        arguments: dict[str, Any] | None = None,
    ) -> list[Event]:
        request = self.waiting_for_approval() if request_id is None else t.find_approval(self.events, request_id)
        if request is None:
            raise AssertionError(f"no approval request {request_id}")
        request = t.as_edited(self.events, request)
        if arguments is not None:
            request = self._edit(request, by, arguments)
        if approved:
            # The request's policy, as `serve` holds it (by name here: there is no people directory).
            if request.no_self_approval and by.lower() == t.requested_by(self.events).lower():
                raise PermissionError(f"{by} asked for this and may not approve their own request")
            counted = [
                e.by for e in self.events if isinstance(e, ApprovalProgress) and e.request_id == request.request_id
            ]
            if by.lower() in {c.lower() for c in counted}:
                raise PermissionError(f"{by} already approved this request; it needs different people")
            if len(counted) + 1 < request.required:
                progress = ApprovalProgress(
                    request_id=request.request_id, by=by, count=len(counted) + 1, required=request.required
                )
                self.events.append(progress)
                return [progress]
        decision = ApprovalDecided(
            request_id=request.request_id, approved=approved, by=by, comment=comment, digest=request.digest
        )
        return await self._append_and_run(decision)

    def _edit(self, request: ApprovalRequested, by: str, arguments: dict[str, Any]) -> ApprovalRequested:
        """Record an approver's edit (as `serve` does, before the approval) and return the request as edited."""
        if request.edit_schema is None:
            raise PermissionError(f"the arguments of {request.tool} cannot be edited")
        if any(isinstance(e, ApprovalProgress) and e.request_id == request.request_id for e in self.events):
            raise PermissionError("an approval already counts for these arguments; they can no longer be edited")
        edited = edits.apply(request.edit_schema, dict(request.arguments), arguments)
        tool = self.agent.tools.get(request.tool)
        if tool is not None:
            edited = tool.validate(edited)
        digest = t.arguments_digest(request.tool, edited)
        if digest == request.digest:
            return request
        edit = ApprovalEdited(
            request_id=request.request_id,
            call_id=request.call_id,
            tool=request.tool,
            by=by,
            arguments=edited,
            digest=digest,
            previous_arguments=dict(request.arguments),
            previous_digest=request.digest,
        )
        self.events.append(edit)
        return t.edited(request, edit)

    async def _append_and_run(self, event: Event) -> list[Event]:
        start = len(self.events)
        self.events.append(event)
        await self.run()
        return self.events[start:]

    async def run(self) -> None:
        """Advance until the thread waits for a human or is done, as the worker would."""
        for _ in range(self.max_steps):
            outcome = await advance(self.agent, self.thread_id, self.events, self.model, ids=self._new_id)
            self.events.extend(outcome.events)
            if isinstance(outcome.step, (Wait, Idle)) or not outcome.events:
                return
        raise AssertionError(f"the thread did not settle within {self.max_steps} steps")


def events_of(events: Sequence[Event], kind: type[Any]) -> list[Any]:
    """The events of one type, e.g. `events_of(talk.events, ToolResult)`."""
    return [e for e in events if isinstance(e, kind)]


__all__ = ["Conversation", "ModelCall", "ScriptedModel", "call", "events_of", "reply"]
