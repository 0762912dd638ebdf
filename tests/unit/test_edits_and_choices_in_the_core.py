"""Edits before approving and questions with choices, in the pure core: the edit schema of a gated
tool, text read by each field's type, edits checked against the schema, the edited call is what
runs (and nothing else is approved), the model reads what changed, and an answer picks an option
by its number or its text."""

from __future__ import annotations

import itertools
import json
from typing import Literal

import pytest

from agent import Agent, edits
from agent.choices import pick
from agent.context import render_context
from agent.events import (
    ApprovalDecided,
    ApprovalEdited,
    ApprovalRequested,
    HumanMessage,
    QuestionAnswered,
    parse_event,
)
from agent.reducer import ModelOutput, ModelToolCall, RunTool, is_gated_call_approved, next_step, on_model_output
from agent.testing import Conversation, ScriptedModel, call, events_of, reply
from agent.thread import arguments_digest


def make_agent() -> Agent:
    agent = Agent("t", approvers=["alice"])

    @agent.tool(needs_approval=True)
    def scale(service: Literal["web", "search"], replicas: int, note: str | None = None) -> str:
        """Scale a service."""
        return "ok"

    @agent.tool(needs_approval=True, editable=False)
    def drop(name: str) -> str:
        """Drop a table."""
        return "ok"

    return agent


def ids() -> itertools.count[int]:
    return itertools.count(1)


def requested(agent: Agent, tool: str, arguments: dict[str, object]) -> ApprovalRequested:
    counter = ids()
    call = ModelToolCall(tool, json.dumps({**arguments, "reason": "why"}))
    [event] = on_model_output(agent, [], ModelOutput(tool_calls=(call,)), lambda: f"id{next(counter)}")
    assert isinstance(event, ApprovalRequested)
    return event


def test_a_gated_tool_carries_its_edit_schema_unless_it_opted_out() -> None:
    agent = make_agent()
    request = requested(agent, "scale", {"service": "web", "replicas": 2})
    schema = request.edit_schema
    assert schema is not None and schema["additionalProperties"] is False
    kinds = {f.name: (f.kind, f.required, f.choices, f.nullable) for f in edits.fields(schema)}
    assert kinds == {
        "service": ("choice", True, ("web", "search"), False),
        "replicas": ("integer", True, (), False),
        "note": ("string", False, (), True),
    }
    assert requested(agent, "drop", {"name": "users"}).edit_schema is None


def test_edits_are_read_by_type_and_checked_against_the_schema() -> None:
    schema = requested(make_agent(), "scale", {"service": "web", "replicas": 2}).edit_schema
    assert schema is not None
    current = {"service": "web", "replicas": 2, "note": None}
    typed = edits.from_text(schema, {"replicas": " 5 ", "note": "", "service": "search"})
    assert typed == {"replicas": 5, "note": None, "service": "search"}
    assert edits.apply(schema, current, typed) == {"service": "search", "replicas": 5, "note": None}
    with pytest.raises(edits.EditError) as bad_text:
        edits.from_text(schema, {"replicas": "many", "colour": "red"})
    assert set(bad_text.value.problems) == {"replicas", "colour"}
    assert "whole number" in bad_text.value.problems["replicas"]
    for change, field, why in (
        ({"replicas": "5"}, "replicas", "must be integer"),
        ({"replicas": True}, "replicas", "not boolean"),
        ({"service": "mail"}, "service", 'one of "web", "search"'),
        ({"extra": 1}, "extra", "not an argument"),
    ):
        with pytest.raises(edits.EditError) as refused:
            edits.apply(schema, current, change)
        assert why in refused.value.problems[field]
    inferred = edits.infer_schema({"n": 1, "x": 1.5, "s": "a", "b": False, "l": [1]})
    assert [(f.name, f.kind) for f in edits.fields(inferred)] == [
        ("n", "integer"),
        ("x", "number"),
        ("s", "string"),
        ("b", "boolean"),
        ("l", "json"),
    ]
    with pytest.raises(edits.EditError):
        edits.apply(inferred, {"n": 1, "x": 1.5, "s": "a", "b": False, "l": [1]}, {"b": "no"})


def edited_thread(agent: Agent) -> tuple[list[object], ApprovalRequested, dict[str, object]]:
    request = requested(agent, "scale", {"service": "web", "replicas": 2})
    after = {"service": "web", "replicas": 5, "note": None}
    digest = arguments_digest("scale", after)
    edit = ApprovalEdited(
        request_id=request.request_id,
        call_id=request.call_id,
        tool="scale",
        by="alice",
        arguments=after,
        digest=digest,
        previous_arguments=dict(request.arguments),
        previous_digest=request.digest,
    )
    decided = ApprovalDecided(request_id=request.request_id, approved=True, by="alice", digest=digest)
    return [HumanMessage(text="scale web", by="bob"), request, edit, decided], request, after


def test_what_runs_is_the_edited_call_and_only_it_is_approved() -> None:
    agent = make_agent()
    events, request, after = edited_thread(agent)
    step = next_step(agent, events, lambda: "x")  # type: ignore[arg-type]
    assert isinstance(step, RunTool) and step.arguments == after and step.call_id == request.call_id
    assert is_gated_call_approved(events, step)  # type: ignore[arg-type]
    original = RunTool(request.call_id, "scale", dict(request.arguments), approved_by="alice")
    assert not is_gated_call_approved(events, original)  # type: ignore[arg-type]
    # An edit recorded after the decision (storage never writes one) changes nothing that runs.
    late = events[2].model_copy(update={"arguments": {"service": "search", "replicas": 9, "note": None}})  # type: ignore[attr-defined]
    replayed = [events[0], events[1], events[3], late]
    step = next_step(agent, replayed, lambda: "x")  # type: ignore[arg-type]
    assert isinstance(step, RunTool) and step.arguments == request.arguments
    assert not is_gated_call_approved(replayed, step)  # type: ignore[arg-type]  # bound to the edited digest


def test_the_model_reads_what_the_approver_changed_and_the_choice() -> None:
    agent = make_agent()
    events, _request, _after = edited_thread(agent)
    content = render_context(agent, events).messages[-1]["content"]  # type: ignore[arg-type]
    assert "<approval_edited" in content and "replicas: 2 -> 5" in content and "service:" not in content
    answered = QuestionAnswered(request_id="q1", answer="us", by="alice", choice="us")
    assert 'choice="us"' in render_context(agent, [HumanMessage(text="x", by="a"), answered]).messages[-1]["content"]
    assert parse_event(answered.model_dump(mode="json")) == answered


def test_an_answer_picks_an_option_by_number_or_text() -> None:
    options = ["Roll back", "Keep going", "2"]
    assert pick(options, "1") == "Roll back"
    assert pick(options, " 2) ") == "Keep going"
    assert pick(options, "keep  GOING.") == "Keep going"
    assert pick(options, "3") == "2"
    assert pick(options, "4") is None and pick(options, "roll") is None and pick([], "1") is None


def test_ask_human_with_closed_options() -> None:
    agent = make_agent()
    counter = ids()

    def ask(arguments: dict[str, object]) -> object:
        call = ModelToolCall("ask_human", json.dumps(arguments))
        return on_model_output(agent, [], ModelOutput(tool_calls=(call,)), lambda: f"q{next(counter)}")[0]

    closed = ask({"question": "Region?", "options": ["eu", " eu ", "us"], "allow_free_text": False})
    assert closed.options == ["eu", "us"] and closed.allow_free_text is False  # type: ignore[attr-defined]
    assert ask({"question": "Region?"}).allow_free_text is True  # type: ignore[attr-defined]
    assert ask({"question": "Region?", "allow_free_text": False}).type == "error"  # type: ignore[attr-defined]


async def test_the_conversation_double_runs_an_edited_approval() -> None:
    agent = Agent("t", approvers=["alice"])
    ran: list[int] = []

    @agent.tool(needs_approval=True)
    def scale(replicas: int) -> str:
        """Scale."""
        ran.append(replicas)
        return f"scaled to {replicas}"

    model = ScriptedModel(call("scale", replicas=2, reason="load"), reply("Done."))
    talk = Conversation(agent, model)
    await talk.say("scale", by="bob")
    with pytest.raises(edits.EditError):
        await talk.approve(by="alice", arguments={"replicas": "two"})
    await talk.approve(by="alice", arguments={"replicas": 3})
    assert ran == [3] and talk.last_reply() == "Done."
    [edit] = events_of(talk.events, ApprovalEdited)
    assert edit.previous_arguments == {"replicas": 2} and edit.arguments == {"replicas": 3}
