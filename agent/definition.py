"""An agent: a prompt file, a few typed tools, and the limits of one turn."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, overload

from agent.errors import AgentDefinitionError
from agent.tools import Tool, make_tool

F = TypeVar("F", bound=Callable[..., Any])

ASK_HUMAN = "ask_human"
BUILTIN_TOOL_NAMES = frozenset({ASK_HUMAN})
DEFAULT_PROMPT = Path(__file__).parent / "prompts" / "system.txt"

ASK_HUMAN_SCHEMA: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": ASK_HUMAN,
        "description": (
            "Ask the humans in this thread a question and wait for their answer. Use it when you "
            "are unsure what they want or lack information; do not guess."
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "question": {"type": "string", "description": "The question, short and specific."},
                "options": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Suggested answers, if the choice is closed.",
                },
            },
            "required": ["question"],
        },
    },
}


class Agent:
    """A small, focused agent.

    `prompt` is a template file (or its text) rendered with `{agent_name}`, `{description}` and
    `{tools}`; the thread itself is rendered by `agent.context`, never by the prompt.
    """

    def __init__(
        self,
        name: str,
        *,
        description: str = "",
        prompt: Path | str = DEFAULT_PROMPT,
        approvers: list[str] | tuple[str, ...] = (),
        max_steps_per_turn: int = 12,
        max_consecutive_errors: int = 3,
        context_token_budget: int = 6000,
        deps: Any = None,
    ) -> None:
        if max_steps_per_turn < 1 or max_consecutive_errors < 1:
            raise AgentDefinitionError("max_steps_per_turn and max_consecutive_errors must be >= 1")
        self.name = name
        self.description = description
        self.prompt_template = prompt.read_text() if isinstance(prompt, Path) else prompt
        self.approvers = tuple(approvers)
        self.max_steps_per_turn = max_steps_per_turn
        self.max_consecutive_errors = max_consecutive_errors
        self.context_token_budget = context_token_budget
        self.deps = deps
        self.tools: dict[str, Tool] = {}
        self._schemas: tuple[tuple[Tool, ...], list[dict[str, Any]]] | None = None

    @overload
    def tool(self, func: F) -> F: ...

    @overload
    def tool(
        self,
        *,
        needs_approval: bool = False,
        approvers: list[str] | tuple[str, ...] = (),
        approval_channel: str | None = None,
        idempotent: bool = False,
    ) -> Callable[[F], F]: ...

    def tool(
        self,
        func: F | None = None,
        *,
        needs_approval: bool = False,
        approvers: list[str] | tuple[str, ...] = (),
        approval_channel: str | None = None,
        idempotent: bool = False,
    ) -> F | Callable[[F], F]:
        """Register a typed function as a tool; `needs_approval=True` gates it behind a human.

        `idempotent=True` says the tool may run again with the same call id (it keys its effects on
        `ctx.call_id`): an approved call interrupted after it started is then retried, where other
        tools ask the approvers whether to run it again."""

        def register(f: F) -> F:
            self.add_tool(
                make_tool(
                    f,
                    needs_approval=needs_approval,
                    approvers=approvers,
                    approval_channel=approval_channel,
                    idempotent=idempotent,
                )
            )
            return f

        return register(func) if func is not None else register

    def add_tool(self, tool: Tool) -> None:
        if tool.name in BUILTIN_TOOL_NAMES or tool.name in self.tools:
            raise AgentDefinitionError(f"agent {self.name}: a tool named {tool.name!r} already exists")
        self.tools[tool.name] = tool

    def approvers_for(self, tool: Tool) -> tuple[str, ...]:
        return tool.approvers or self.approvers

    def tool_schemas(self) -> list[dict[str, Any]]:
        """The schemas the model sees; derived once per set of tools (pydantic's JSON schema generation
        costs more than the rest of a step), copied so a caller cannot change them for the next."""
        tools = tuple(self.tools.values())
        cached = self._schemas
        stale = cached is None or len(cached[0]) != len(tools)
        if cached is None or stale or any(a is not b for a, b in zip(cached[0], tools, strict=True)):
            cached = self._schemas = (tools, [tool.schema() for tool in tools] + [ASK_HUMAN_SCHEMA])
        return copy.deepcopy(cached[1])

    def system_prompt(self) -> str:
        tool_lines = "\n".join(
            f"- {t.name}{' (needs human approval)' if t.needs_approval else ''}: {t.description.splitlines()[0]}"
            for t in self.tools.values()
        )
        return self.prompt_template.format(
            agent_name=self.name, description=self.description, tools=tool_lines or "- (none)"
        )
