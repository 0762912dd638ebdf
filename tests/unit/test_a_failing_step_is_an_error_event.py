"""Whatever a step raises becomes an error event that counts toward asking the humans."""

from __future__ import annotations

from typing import Any

from agent import Agent
from agent.events import Error, Event, HumanMessage, QuestionAsked
from agent.io.model import UnconfiguredModel
from agent.io.runner import advance


class SchemalessAgent(Agent):
    """Its tool schemas cannot be made (as when a type's JSON schema raises)."""

    def tool_schemas(self) -> list[dict[str, Any]]:
        raise RuntimeError("no schema for you")


async def test_three_failing_steps_are_three_errors_then_a_question() -> None:
    agent = SchemalessAgent("ops")
    events: list[Event] = [HumanMessage(text="status?", by="carol")]
    for _ in range(3):
        outcome = await advance(agent, "t1", events, UnconfiguredModel())
        events.extend(outcome.events)
    assert [type(e).__name__ for e in events] == ["HumanMessage", "Error", "Error", "Error", "QuestionAsked"]
    errors = [e for e in events if isinstance(e, Error)]
    assert [e.consecutive for e in errors] == [1, 2, 3]
    assert all(e.source == "step" and not e.fatal for e in errors)
    assert all(e.message == "the step failed: RuntimeError: no schema for you" for e in errors)
    question = events[-1]
    assert isinstance(question, QuestionAsked) and question.answerers == ["carol"]
    # The model (here: none configured, which would say so as a model error) was never asked.
    assert all("no model is configured" not in e.message for e in errors)
    assert (await advance(agent, "t1", events, UnconfiguredModel())).events == []
