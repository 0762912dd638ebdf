"""Issue 10.5, in the pure core: every question names who may answer it when it is asked. By default
the thread's participants so far and the agent's approvers; an agent may name others instead. The
questions Signoff asks itself (after repeated errors, at the step limit) follow the same rule, and
the model cannot change it."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from agent import APPROVERS, PARTICIPANTS, Agent
from agent.errors import AgentDefinitionError
from agent.events import Event, HumanMessage, QuestionAsked, ToolCall, ToolResult, dump_event, parse_event
from agent.reducer import Append, ModelOutput, ModelToolCall, next_step, on_model_output

BOB = HumanMessage(text="restart web", by="bob@corp.example", channel="email")
CAROL = HumanMessage(text="and search too", by="carol@corp.example", channel="email")


def agent_with(**kwargs: object) -> Agent:
    agent = Agent("ops", approvers=["U0ALICE"], **kwargs)  # type: ignore[arg-type]

    @agent.tool(needs_approval=True, approvers=["S0ONCALL", "u0alice"])
    def restart(name: str) -> str:
        """Restart a thing."""
        return "ok"

    @agent.tool
    def lookup(name: str) -> str:
        """Look something up."""
        return name

    return agent


def ids() -> Callable[[], str]:
    counter = itertools.count(1)
    return lambda: f"id{next(counter)}"


def ask(agent: Agent, events: list[Event], arguments: str = '{"question": "Which web?"}') -> QuestionAsked:
    output = ModelOutput(tool_calls=(ModelToolCall(name="ask_human", arguments_json=arguments),))
    (question,) = on_model_output(agent, events, output, ids())
    assert isinstance(question, QuestionAsked)
    return question


def test_by_default_the_participants_so_far_and_every_approver_may_answer() -> None:
    question = ask(agent_with(), [BOB, CAROL, HumanMessage(text="again", by="BOB@corp.example")])
    # Once each, without case: the allowed check compares without case too.
    assert question.answerers == ["bob@corp.example", "carol@corp.example", "U0ALICE", "S0ONCALL"]


def test_an_agent_names_who_answers_its_questions() -> None:
    assert ask(agent_with(answerers=["U0LEAD"]), [BOB]).answerers == ["U0LEAD"]
    assert ask(agent_with(answerers=[APPROVERS]), [BOB]).answerers == ["U0ALICE", "S0ONCALL"]
    assert ask(agent_with(answerers=[PARTICIPANTS, "U0LEAD"]), [BOB]).answerers == ["bob@corp.example", "U0LEAD"]


def test_the_model_cannot_choose_who_answers() -> None:
    question = ask(agent_with(), [BOB], '{"question": "Which web?", "answerers": ["mallory@evil.example"]}')
    assert "mallory@evil.example" not in question.answerers


@pytest.mark.parametrize("answerers", [[], [" "], "U0LEAD"])
def test_an_agent_that_names_nobody_is_refused_at_definition(answerers: object) -> None:
    with pytest.raises(AgentDefinitionError, match="answerers"):
        Agent("ops", answerers=answerers).check()  # type: ignore[arg-type]


def test_signoffs_own_questions_follow_the_same_rule() -> None:
    agent = agent_with(answerers=[PARTICIPANTS, "U0LEAD"])
    events: list[Event] = [BOB]
    bad = ModelOutput(tool_calls=(ModelToolCall(name="nope", arguments_json="{}"),))
    for _ in range(agent.max_consecutive_errors):
        new = on_model_output(agent, events, bad, ids())
        events += new
    assert isinstance(events[-1], QuestionAsked) and events[-1].answerers == ["bob@corp.example", "U0LEAD"]

    capped = agent_with(max_steps_per_turn=1)
    looped: list[Event] = [BOB, ToolCall(call_id="c1", tool="lookup", arguments={"name": "x"})]
    looped.append(ToolResult(call_id="c1", tool="lookup", result="x"))
    step = next_step(capped, looped, ids())
    assert isinstance(step, Append) and isinstance(step.events[-1], QuestionAsked)
    assert step.events[-1].answerers == ["bob@corp.example", "U0ALICE", "S0ONCALL"]


def test_a_triggers_thread_asks_the_people_its_message_speaks_for() -> None:
    """A schedule's or a webhook's message has nobody behind it: its `ask` address answers."""
    fired = HumanMessage(text="nightly check", by="schedule:nightly", channel="email", humans=["oncall@example.com"])
    question = ask(agent_with(), [fired])
    assert question.answerers == ["schedule:nightly", "oncall@example.com", "U0ALICE", "S0ONCALL"]
    assert ask(agent_with(answerers=[APPROVERS]), [fired]).answerers == ["U0ALICE", "S0ONCALL"]
    # Stored as before when it speaks for nobody.
    assert "humans" not in dump_event(BOB) and parse_event(dump_event(fired)) == fired
