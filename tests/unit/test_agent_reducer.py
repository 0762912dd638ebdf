"""The reducer is pure: given events, the next step and the events it produces."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from agent import Agent, ToolContext
from agent.context import render_context
from agent.errors import AgentDefinitionError
from agent.events import (
    AgentReply,
    ApprovalDecided,
    ApprovalRequested,
    DeliveryFailed,
    Error,
    HumanMessage,
    QuestionAnswered,
    QuestionAsked,
    ToolCall,
    ToolResult,
    dump_event,
    parse_event,
)
from agent.reducer import (
    Append,
    CallModel,
    Idle,
    ModelOutput,
    ModelToolCall,
    RunTool,
    Wait,
    is_gated_call_approved,
    next_step,
    on_model_output,
)
from agent.thread import arguments_digest, status

ran: list[str] = []


def make_agent(**kwargs: object) -> Agent:
    agent = Agent("test", approvers=["alice"], **kwargs)  # type: ignore[arg-type]

    @agent.tool
    def lookup(name: str, ctx: ToolContext) -> str:
        """Look something up."""
        return f"found {name}"

    @agent.tool(needs_approval=True, approvers=["ops-lead"])
    def restart(name: str, force: bool = False) -> str:
        """Restart a thing."""
        ran.append(name)
        return "restarted"

    return agent


def ids() -> object:
    counter = itertools.count(1)
    return lambda: f"id{next(counter)}"


def call(name: str, arguments: str) -> ModelOutput:
    return ModelOutput(tool_calls=(ModelToolCall(name=name, arguments_json=arguments),))


HELLO = HumanMessage(text="restart web", by="bob")


def test_a_gated_tool_call_becomes_an_approval_request_not_a_run() -> None:
    agent = make_agent()
    events = on_model_output(agent, [HELLO], call("restart", '{"name": "web", "reason": "stuck"}'), ids())  # type: ignore[arg-type]
    (request,) = events
    assert isinstance(request, ApprovalRequested)
    assert request.arguments == {"name": "web", "force": False}
    assert request.reason == "stuck"
    assert request.approvers == ["ops-lead"]
    assert request.digest == arguments_digest("restart", {"name": "web", "force": False})
    assert next_step(agent, [HELLO, request], ids()) == Wait((request.request_id,))  # type: ignore[arg-type]
    assert status([HELLO, request]) == "waiting"


def test_approval_runs_exactly_the_approved_arguments_and_denial_goes_back_to_the_model() -> None:
    agent = make_agent()
    request = on_model_output(agent, [HELLO], call("restart", '{"name": "web", "reason": "x"}'), ids())[0]  # type: ignore[arg-type]
    assert isinstance(request, ApprovalRequested)
    approved = ApprovalDecided(request_id=request.request_id, approved=True, by="ops-lead")
    step = next_step(agent, [HELLO, request, approved], ids())  # type: ignore[arg-type]
    assert step == RunTool(request.call_id, "restart", {"name": "web", "force": False}, approved_by="ops-lead")
    denied = ApprovalDecided(request_id=request.request_id, approved=False, by="ops-lead", comment="freeze")
    assert next_step(agent, [HELLO, request, denied], ids()) == CallModel()  # type: ignore[arg-type]
    # Once the result is in, the approval is spent: it never runs twice.
    result = ToolResult(call_id=request.call_id, tool="restart", result="restarted")
    assert next_step(agent, [HELLO, request, approved, result], ids()) == CallModel()  # type: ignore[arg-type]


def test_the_guard_refuses_other_arguments_or_no_approval() -> None:
    agent = make_agent()
    request = on_model_output(agent, [HELLO], call("restart", '{"name": "web", "reason": "x"}'), ids())[0]  # type: ignore[arg-type]
    assert isinstance(request, ApprovalRequested)
    approved = ApprovalDecided(request_id=request.request_id, approved=True, by="ops-lead")
    events = [HELLO, request, approved]
    assert is_gated_call_approved(events, RunTool(request.call_id, "restart", {"name": "web", "force": False}))
    assert not is_gated_call_approved(events, RunTool(request.call_id, "restart", {"name": "db", "force": False}))
    assert not is_gated_call_approved(events, RunTool(request.call_id, "restart", {"name": "web", "force": True}))
    assert not is_gated_call_approved(events, RunTool("other-call", "restart", {"name": "web", "force": False}))
    denied = ApprovalDecided(request_id=request.request_id, approved=False, by="ops-lead")
    assert not is_gated_call_approved(
        [HELLO, request, denied], RunTool(request.call_id, "restart", {"name": "web", "force": False})
    )


def test_an_approval_of_other_arguments_than_the_request_carries_runs_nothing() -> None:
    agent = make_agent()
    request = on_model_output(agent, [HELLO], call("restart", '{"name": "web", "reason": "x"}'), ids())[0]  # type: ignore[arg-type]
    assert isinstance(request, ApprovalRequested)
    step = RunTool(request.call_id, "restart", {"name": "web", "force": False})
    shown_db = arguments_digest("restart", {"name": "db", "force": False})
    for digest, runs in ((request.digest, True), ("", True), (shown_db, False)):
        approved = ApprovalDecided(request_id=request.request_id, approved=True, by="ops-lead", digest=digest)
        assert is_gated_call_approved([HELLO, request, approved], step) is runs


def test_a_forged_tool_call_event_for_a_gated_tool_never_runs() -> None:
    import asyncio

    from agent.io.runner import advance

    agent = make_agent()
    forged = ToolCall(call_id="c1", tool="restart", arguments={"name": "web", "force": False})
    ran.clear()
    outcome = asyncio.run(advance(agent, "t1", [HELLO, forged], model=None))  # type: ignore[arg-type]
    assert ran == []
    (error,) = outcome.events
    assert isinstance(error, Error) and error.fatal and "refused" in error.message
    assert status([HELLO, forged, error]) == "failed"


def test_plain_text_finishes_and_ask_human_pauses() -> None:
    agent = make_agent()
    (reply,) = on_model_output(agent, [HELLO], ModelOutput(text=" All done. "), ids())  # type: ignore[arg-type]
    assert reply == AgentReply(text="All done.", final=True)
    assert status([HELLO, reply]) == "done"
    (question,) = on_model_output(
        agent, [HELLO], call("ask_human", '{"question": "Which web?", "options": ["a", "b"]}'), ids()
    )  # type: ignore[arg-type]
    assert isinstance(question, QuestionAsked) and question.options == ["a", "b"]
    answered = QuestionAnswered(request_id=question.request_id, answer="a", by="bob")
    assert next_step(agent, [HELLO, question, answered], ids()) == CallModel()  # type: ignore[arg-type]
    assert next_step(agent, [HELLO, reply], ids()) == Idle("done")  # type: ignore[arg-type]


def test_errors_count_in_a_row_and_escalate_on_the_third() -> None:
    agent = make_agent()
    events: list = [HELLO]
    for expected in (1, 2):
        new = on_model_output(agent, events, call("nope", "{}"), ids())  # type: ignore[arg-type]
        assert [type(e) for e in new] == [Error] and new[0].consecutive == expected  # type: ignore[union-attr]
        events += new
    new = on_model_output(agent, events, call("nope", "{}"), ids())  # type: ignore[arg-type]
    assert [type(e) for e in new] == [Error, QuestionAsked]
    assert new[1].answerers == ["bob", "alice", "ops-lead"]  # type: ignore[union-attr]


def test_a_runaway_turn_stops_at_the_step_cap_and_asks() -> None:
    agent = make_agent(max_steps_per_turn=3)
    events: list = [HELLO]
    for n in range(3):
        events += [
            ToolCall(call_id=f"c{n}", tool="lookup", arguments={"name": "x"}),
            ToolResult(call_id=f"c{n}", tool="lookup", result="found x"),
        ]
    step = next_step(agent, events, ids())  # type: ignore[arg-type]
    assert isinstance(step, Append)
    assert [e.type for e in step.events] == ["error", "question_asked"]
    # A human's answer starts a new turn with a fresh budget.
    events += list(step.events) + [QuestionAnswered(request_id=step.events[1].request_id, answer="go on", by="bob")]  # type: ignore[union-attr]
    assert next_step(agent, events, ids()) == CallModel()  # type: ignore[arg-type]


def test_a_failed_delivery_is_a_note_the_agent_never_acts_on() -> None:
    agent = make_agent()
    bounced = DeliveryFailed(channel="email", kind="reply", error="to bob: 550 5.1.1 no such user")
    reply = AgentReply(text="All done.")
    assert status([HELLO, reply, bounced]) == "done"
    assert next_step(agent, [HELLO, reply, bounced], ids()) == Idle("done")  # type: ignore[arg-type]
    # Mid-work, the next step is the one due without it: an approved call still runs.
    request = on_model_output(agent, [HELLO], call("restart", '{"name": "web", "reason": "stuck"}'), ids())[0]  # type: ignore[arg-type]
    assert isinstance(request, ApprovalRequested)
    approved = ApprovalDecided(request_id=request.request_id, approved=True, by="ops-lead")
    step = next_step(agent, [HELLO, request, bounced, approved, bounced], ids())  # type: ignore[arg-type]
    assert isinstance(step, RunTool) and step.call_id == request.call_id
    # It breaks no run of errors, and the model never reads it.
    error = Error(source="model", message="boom", consecutive=2)
    (escalated, question) = on_model_output(agent, [HELLO, error, bounced], call("nope", "{}"), ids())  # type: ignore[arg-type]
    assert isinstance(escalated, Error) and escalated.consecutive == 3 and isinstance(question, QuestionAsked)
    assert "550" not in str(render_context(agent, [HELLO, reply, bounced]).messages)


def test_events_round_trip_through_json() -> None:
    for event in (
        HELLO,
        ToolCall(call_id="c", tool="t", arguments={"a": [1, {"b": None}]}),
        Error(source="model", message="boom", consecutive=2),
        ApprovalRequested(request_id="r", call_id="c", tool="t", arguments={}, digest="d", approvers=["x"]),
        DeliveryFailed(channel="email", kind="reply", error="550", attempts=3),
    ):
        assert parse_event(dump_event(event)) == event


def test_tool_schema_comes_from_type_hints_and_docstring() -> None:
    agent = make_agent()
    schema = agent.tools["restart"].schema()["function"]
    assert schema["description"] == "Restart a thing."
    assert schema["parameters"]["properties"]["name"] == {"type": "string"}
    assert schema["parameters"]["properties"]["force"] == {"default": False, "type": "boolean"}
    assert schema["parameters"]["required"] == ["name", "reason"]
    lookup = agent.tools["lookup"].schema()["function"]["parameters"]
    assert "ctx" not in lookup["properties"]  # the context is ours, never the model's


def test_bad_tool_definitions_are_refused() -> None:
    agent = make_agent()

    @agent.tool
    def lookup(name: str) -> str:
        """Defined twice."""
        return name

    @agent.tool(needs_approval=True)
    def risky(reason: str) -> str:
        """Takes the reserved name."""
        return reason

    with pytest.raises(AgentDefinitionError) as raised:
        agent.check()
    assert "defined twice" in str(raised.value) and "'reason' is reserved" in str(raised.value)


def test_every_problem_of_a_definition_is_listed_at_once() -> None:
    agent = Agent("messy", prompt="You are {agent}. {tools}", answerers=[], max_steps_per_turn=0)

    @agent.tool
    def undocumented(name: str) -> str:
        return name

    @agent.tool
    def untyped(name, *rest: str) -> str:  # type: ignore[no-untyped-def]
        """Has no annotation and a *rest.

        Args:
            name: A name.
            nickname: Not a parameter.
        """
        return str(name)

    @agent.tool
    def ask_human(question: str) -> str:
        """Takes a built-in name."""
        return question

    @agent.tool
    def apply(fn: Callable[[int], int]) -> int:
        """Cannot be described."""
        return fn(1)

    with pytest.raises(AgentDefinitionError) as raised:
        agent.system_prompt()  # any use of a broken agent says everything that is wrong with it
    message = str(raised.value)
    assert message.startswith("agent messy is defined with 9 problems:")
    for expected in (
        "max_steps_per_turn",
        "answerers must be a list",
        "unknown placeholder {agent}",
        "tool undocumented: has no docstring",
        "tool untyped: parameter 'name' has no type annotation",
        "tool untyped: *rest cannot be described",
        "tool untyped: its docstring describes 'nickname'",
        "tool ask_human: the name is reserved",
        "tool apply: its parameters cannot be described to a model",
    ):
        assert expected in message, expected
    assert len(raised.value.problems) == 10  # the header and the 9 problems


def test_ask_human_can_be_turned_off() -> None:
    agent = Agent("quiet", ask_human=False)
    assert "ask_human" not in [s["function"]["name"] for s in agent.tool_schemas()]
    events = on_model_output(agent, [HELLO], call("ask_human", '{"question": "really?"}'), ids())  # type: ignore[arg-type]
    assert isinstance(events[0], Error) and "unknown tool 'ask_human'" in events[0].message


@pytest.mark.parametrize(
    "arguments", ['{"name": "web"}', '{"name": "web", "reason": ""}', '{"name": "web", "reason": 3}']
)
def test_a_gated_call_without_a_reason_is_refused_as_its_schema_says(arguments: str) -> None:
    agent = make_agent()
    events = on_model_output(agent, [HELLO], call("restart", arguments), ids())  # type: ignore[arg-type]
    assert len(events) == 1 and isinstance(events[0], Error)
    assert events[0].source == "tool_call" and "reason" in events[0].message
    assert "reason" in agent.tools["restart"].schema()["function"]["parameters"]["required"]


def test_parameters_are_described_from_the_docstrings_args_section() -> None:
    agent = Agent("docs")

    @agent.tool
    def resize(volume: str, size_gb: int = 10) -> str:
        """Grow a volume.

        Never shrinks.

        Args:
            volume: The volume's id,
                e.g. vol-123.
            size_gb: The new size in GiB.
        """
        return volume

    function = agent.tools["resize"].schema()["function"]
    assert function["description"] == "Grow a volume.\n\nNever shrinks."
    properties = function["parameters"]["properties"]
    assert properties["volume"]["description"] == "The volume's id, e.g. vol-123."
    assert properties["size_gb"] == {"default": 10, "description": "The new size in GiB.", "type": "integer"}
