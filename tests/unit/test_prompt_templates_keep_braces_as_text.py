"""Prompt files: `{agent_name}`, `{description}` and `{tools}` are filled in, every other brace is
text, and a placeholder that does not exist is refused when the agent is defined, by file and line."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from agent import Agent
from agent.definition import DEFAULT_PROMPT
from agent.errors import AgentDefinitionError
from agent.prompt_template import PromptTemplate
from bot.agent_loader import load_agent
from bot.errors import AgentLoadError

VALUES = {"agent_name": "ops", "description": "Looks after services.", "tools": "- list_services: List them."}
JSON_PROMPT = """You are {agent_name}.
Answer with JSON like {"service": "payments", "checks": {"http": true}} and nothing else.
An empty object is {}. Code: for (;;) { x++; }
{tools}"""


def render(text: str) -> str:
    return PromptTemplate(text, "test.txt").render(VALUES)


def test_a_json_example_reaches_the_model_as_written() -> None:
    rendered = render(JSON_PROMPT)
    assert rendered.splitlines() == [
        "You are ops.",
        'Answer with JSON like {"service": "payments", "checks": {"http": true}} and nothing else.',
        "An empty object is {}. Code: for (;;) { x++; }",
        "- list_services: List them.",
    ]


def test_an_agent_with_braces_in_its_prompt_renders_every_step(tmp_path: Path) -> None:
    prompt = tmp_path / "prompt.txt"
    prompt.write_text(JSON_PROMPT)
    agent = Agent("ops", prompt=prompt)
    assert '{"http": true}}' in agent.system_prompt()


def test_values_are_inserted_as_they_are_never_read_as_templates() -> None:
    values = {**VALUES, "description": "Uses {tools} and {{x}} and {", "tools": "- f: {agent_name}"}
    rendered = PromptTemplate('{agent_name} {"a": 1} {description} {tools}', "t").render(values)
    assert rendered == 'ops {"a": 1} Uses {tools} and {{x}} and { - f: {agent_name}'
    formatted = PromptTemplate("{agent_name} {description} {tools}", "t").render(values)
    assert formatted == "ops Uses {tools} and {{x}} and { - f: {agent_name}"


def test_a_prompt_written_for_str_format_renders_as_before() -> None:
    old = 'You are {agent_name}. Reply as {{"ok": true}} or {{"ok": false, "why": "..."}}.\n{tools}'
    assert render(old) == old.format(**VALUES)
    assert '{"ok": true}' in render(old)


@pytest.mark.parametrize("path", [DEFAULT_PROMPT, Path("bot/example_agent/prompt.txt")])
def test_the_bundled_prompts_render_exactly_as_str_format_did(path: Path) -> None:
    text = path.read_text()
    assert render(text) == text.format(**VALUES)


def test_doubled_braces_around_a_name_write_it_literally() -> None:
    assert render('Say {"x": 1}; the list is {tools}, written {{tools}}.') == (
        'Say {"x": 1}; the list is - list_services: List them., written {tools}.'
    )


def test_an_unknown_placeholder_is_refused_naming_the_file_the_line_and_the_placeholder(tmp_path: Path) -> None:
    prompt = tmp_path / "prompt.txt"
    prompt.write_text('You are {agent_name}.\nJSON: {"a": 1}\nYou work for {agent} on {tools}.\n')
    with pytest.raises(AgentDefinitionError) as raised:
        Agent("ops", prompt=prompt).check()
    message = str(raised.value)
    assert f"prompt {prompt}, line 3: unknown placeholder {{agent}}" in message
    assert "{agent_name}, {description}, {tools}" in message
    assert "write {{agent}}" in message


def test_a_format_spec_on_a_placeholder_is_refused() -> None:
    with pytest.raises(AgentDefinitionError, match=r"line 2: \{tools!r\} is not supported"):
        PromptTemplate('{"a": 1}\n{tools!r}', "t.txt")
    with pytest.raises(AgentDefinitionError, match=r"line 1: \{agent_name:>10\} is not supported"):
        PromptTemplate("{agent_name:>10}", "t.txt")


def test_an_inline_prompt_is_checked_too() -> None:
    with pytest.raises(AgentDefinitionError, match=r"prompt of agent ops \(inline text\), line 1: unknown placeholder"):
        Agent("ops", prompt="Hello {name}").check()
    agent = Agent("ops", prompt="Hello {agent_name}")
    with pytest.raises(AgentDefinitionError, match="unknown placeholder {nme}"):
        agent.prompt_template = "Hello {nme}"
    assert agent.system_prompt() == "Hello ops"


def test_loading_an_agent_with_a_bad_prompt_says_which_setting_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "prompt.txt").write_text("Hi {agent_name}\n\nUse {tool}.\n")
    (tmp_path / "badprompt_agent.py").write_text(
        "from pathlib import Path\nfrom agent import Agent\n"
        "agent = Agent('ops', prompt=Path(__file__).with_name('prompt.txt'))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with pytest.raises(AgentLoadError) as raised:
            load_agent("badprompt_agent:agent")
    finally:
        sys.modules.pop("badprompt_agent", None)
    assert str(raised.value).startswith("SIGNOFF_AGENT=badprompt_agent:agent: agent ops is defined with 1 problem:")
    assert f"- prompt {tmp_path / 'prompt.txt'}, line 3: unknown placeholder {{tool}}" in str(raised.value)


def test_an_agent_whose_tool_has_no_json_schema_is_refused_when_it_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "callable_agent.py").write_text(
        "from collections.abc import Callable\nfrom agent import Agent\n"
        "agent = Agent('ops')\n\n"
        "@agent.tool\ndef apply(fn: Callable[[int], int]) -> int:\n    return fn(1)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with pytest.raises(AgentLoadError) as raised:
            load_agent("callable_agent:agent")
    finally:
        sys.modules.pop("callable_agent", None)
    message = str(raised.value)
    assert message.startswith("SIGNOFF_AGENT=callable_agent:agent: agent ops is defined with 2 problems:")
    assert (
        "- tool apply: its parameters cannot be described to a model: "
        "Cannot generate a JsonSchema for core_schema.CallableSchema"
    ) in message
    assert "- tool apply: has no docstring" in message
