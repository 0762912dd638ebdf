"""An agent: a prompt file, a few typed tools, and the limits of one turn."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar, overload

from agent.errors import AgentDefinitionError
from agent.grants import Grants
from agent.places import places_from
from agent.policy import PolicyFunction
from agent.prompt_template import PromptTemplate
from agent.timers import ClockFields, Duration, Timers, timers_from
from agent.tools import DepsT, Tool, make_tool

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Startup:
    """What Signoff hands an agent's `setup` when it starts.

    `database` is Signoff's `storage.db.Database` (its engine and write rules), for agents that keep
    their own tables beside Signoff's; `database_url` is the same as a URL, for agents that connect
    their own way. `settings` are the values of the agent's environment Signoff read, by name.
    """

    database: Any = None
    database_url: str = ""
    settings: dict[str, str] = field(default_factory=dict)


ASK_HUMAN = "ask_human"
# Placeholders in `Agent(answerers=...)`, expanded when a question is asked: the people who wrote in
# the thread so far, and everyone who may approve this agent's calls. Neither can be a Slack id
# or an email address.
PARTICIPANTS = "@participants"
APPROVERS = "@approvers"
BUILTIN_TOOL_NAMES = frozenset({ASK_HUMAN})
DEFAULT_PROMPT = Path(__file__).parent / "prompts" / "system.txt"
# The most a gated call's arguments may hold (characters of their JSON): an approver must be able to
# read all of it. Larger calls are refused before any request is made, and the model is told.
MAX_APPROVAL_ARGUMENT_CHARS = 10_000

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
                "allow_free_text": {
                    "type": "boolean",
                    "description": "With options: whether an answer other than the options is accepted (default true).",
                },
            },
            "required": ["question"],
        },
    },
}


class Agent(Generic[DepsT]):
    """A small, focused agent.

    `prompt` is a template file (or its text) rendered with `{agent_name}`, `{description}` and
    `{tools}`; other braces are text (see `agent.prompt_template`). A bad placeholder raises
    AgentDefinitionError here, naming the file and the line. The thread itself is rendered by
    `agent.context`, never by the prompt.

    `deps` is what its tools get as `ctx.deps` (a client, a connection pool): given as a value, or
    built once at start by `setup(startup)`, e.g. `Agent[Inventory]("ops", setup=open_inventory)`.

    `answerers`: who may answer the agent's questions (`ask_human`, and the questions Signoff asks
    itself after repeated errors or at the step limit): Slack user or group ids, email addresses,
    and the placeholders `PARTICIPANTS` (who wrote in the thread before the question) and
    `APPROVERS` (the agent's and its gated tools' approvers, `SIGNOFF_APPROVERS` where they are
    the default). The model never chooses who answers.

    `ask_human=False` takes the built-in `ask_human` tool away from the model (Signoff still asks the
    thread's humans itself after repeated errors or at the step limit).
    `max_approval_argument_chars` caps the arguments of an approval-gated call (their JSON), so that
    an approver can read them in full on every surface.
    `self_approval=False` (the default): the person who asked (matched across Slack and email
    through the people directory) may not approve their own request; a tool may say otherwise.

    The clock of its requests (agent/timers.py): `remind_after` reminds the people a request still
    waits for, `escalate_after` adds `escalate_to` to who may decide and asks them (and posts the
    card to the Slack channel `escalate_channel`), `expire_after`
    closes it as expired (nothing runs; the model is told). A gated tool or a policy's Rule may say
    otherwise for its calls; questions take the agent's.

    `deliver_to` sends its requests to more places than the thread they were asked in: a Slack
    channel (`"slack:C0APPROVERS"`), each approver's Slack DM (`"slack:dm"`), each approver's mail
    (`"email"`); decided once, wherever answered, and every copy shows the outcome (agent/places.py).
    `decided_mail=True` tells the emailed approvers who did not answer who decided. A gated tool
    may name its own places.
    """

    def __init__(
        self,
        name: str,
        *,
        description: str = "",
        prompt: Path | str = DEFAULT_PROMPT,
        approvers: list[str] | tuple[str, ...] = (),
        answerers: Sequence[str] = (PARTICIPANTS, APPROVERS),
        max_steps_per_turn: int = 12,
        max_consecutive_errors: int = 3,
        context_token_budget: int = 6000,
        deps: DepsT | None = None,
        setup: Callable[[Startup], DepsT] | None = None,
        max_approval_argument_chars: int = MAX_APPROVAL_ARGUMENT_CHARS,
        ask_human: bool = True,
        self_approval: bool = False,
        remind_after: Duration | None = None,
        escalate_after: Duration | None = None,
        escalate_to: Sequence[str] | None = None,
        expire_after: Duration | None = None,
        escalate_channel: str | None = None,
        deliver_to: Sequence[str] = (),
        decided_mail: bool = False,
    ) -> None:
        # Every problem is gathered, then raised together by `check()` (when the agent loads, or at
        # its first use), so a newcomer fixes them in one round rather than one per start.
        self.problems: list[str] = []
        if max_steps_per_turn < 1 or max_consecutive_errors < 1:
            self.problems.append("max_steps_per_turn and max_consecutive_errors must be >= 1")
        if isinstance(answerers, str) or not [a for a in answerers if a.strip()]:
            self.problems.append(
                "answerers must be a list naming at least one person or placeholder, "
                "e.g. [PARTICIPANTS, APPROVERS] (the default) or ['U012ABCDEF', 'alice@example.com']"
            )
            answerers = (PARTICIPANTS, APPROVERS)
        if max_approval_argument_chars < 1:
            self.problems.append("max_approval_argument_chars must be >= 1")
        self.max_approval_argument_chars = max_approval_argument_chars
        self.name = name
        self.description = description
        self._prompt: PromptTemplate | None = None
        try:
            if isinstance(prompt, Path):
                self._prompt = PromptTemplate(prompt.read_text(), str(prompt))
            else:
                self._prompt = PromptTemplate(prompt, f"of agent {name} (inline text)")
        except AgentDefinitionError as exc:
            self.problems.extend(exc.problems)
        except OSError as exc:
            self.problems.append(f"prompt file {prompt} cannot be read: {exc}")
        self.approvers = tuple(approvers)
        self.answerers = tuple(a.strip() for a in answerers if a.strip())
        self.ask_human = ask_human
        # Whether the person who asked may approve their own request (a tool may say otherwise).
        self.self_approval = self_approval
        self.timers, clock_problems = timers_from(
            f"agent {name}",
            remind_after=remind_after,
            escalate_after=escalate_after,
            escalate_to=escalate_to,
            expire_after=expire_after,
            escalate_channel=escalate_channel,
        )
        self.problems.extend(clock_problems or self.timers.problems(f"agent {name}"))
        self.decided_mail = decided_mail
        self.copies, place_problems = places_from(f"agent {name}", deliver_to, decided_mail)
        self.problems.extend(place_problems)
        self.max_steps_per_turn = max_steps_per_turn
        self.max_consecutive_errors = max_consecutive_errors
        self.context_token_budget = context_token_budget
        self.deps = deps
        self.setup = setup
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
        required: int = 1,
        self_approval: bool | None = None,
        policy: PolicyFunction | None = None,
        grants: Grants | None = None,
        destructive: bool = False,
        remind_after: Duration | None = None,
        escalate_after: Duration | None = None,
        escalate_to: Sequence[str] | None = None,
        expire_after: Duration | None = None,
        escalate_channel: str | None = None,
        editable: bool = True,
        deliver_to: Sequence[str] | None = None,
    ) -> Callable[[F], F]: ...

    def tool(
        self,
        func: F | None = None,
        *,
        needs_approval: bool = False,
        approvers: list[str] | tuple[str, ...] = (),
        approval_channel: str | None = None,
        idempotent: bool = False,
        required: int = 1,
        self_approval: bool | None = None,
        policy: PolicyFunction | None = None,
        grants: Grants | None = None,
        destructive: bool = False,
        remind_after: Duration | None = None,
        escalate_after: Duration | None = None,
        escalate_to: Sequence[str] | None = None,
        expire_after: Duration | None = None,
        escalate_channel: str | None = None,
        editable: bool = True,
        deliver_to: Sequence[str] | None = None,
    ) -> F | Callable[[F], F]:
        """Register a typed function as a tool; `needs_approval=True` gates it behind a human.

        `idempotent=True` says the tool may run again with the same call id (it keys its effects on
        `ctx.call_id`): an approved call interrupted after it started is then retried, where other
        tools ask the approvers whether to run it again. `required=N` needs N distinct approvers;
        `self_approval` overrides the agent's; `policy` is a function of the arguments returning an
        `agent.policy.Rule` (or None) for each call (see agent/policy.py). `remind_after`,
        `escalate_after` with `escalate_to`, and `expire_after` set the clock of its approval
        requests, over the agent's (see agent/timers.py). `editable=False`: an approver may approve
        or deny a call as asked, never change its arguments first. `grants` says which standing
        grants its approvers may give (agent/grants.py; none by default); `destructive=True` marks
        effects that cannot be undone. `deliver_to` names where its approval requests go besides the
        thread, instead of the agent's places (agent/places.py)."""

        def register(f: F) -> F:
            try:
                tool = make_tool(
                    f,
                    needs_approval=needs_approval,
                    approvers=approvers,
                    approval_channel=approval_channel,
                    idempotent=idempotent,
                    required=required,
                    self_approval=self_approval,
                    policy=policy,
                    grants=grants,
                    destructive=destructive,
                    editable=editable,
                )
            except AgentDefinitionError as exc:
                self.problems.extend(exc.problems)
                return f
            where = f"tool {tool.name}"
            own, clock_problems = timers_from(
                where,
                remind_after=remind_after,
                escalate_after=escalate_after,
                escalate_to=escalate_to,
                expire_after=expire_after,
                escalate_channel=escalate_channel,
            )
            if own != Timers() and not needs_approval:
                clock_problems.append(
                    f"{where}: remind_after, escalate_after and expire_after need needs_approval=True"
                )
            self.problems.extend(clock_problems or own.over(self.timers).problems(where))
            copies, place_problems = places_from(where, deliver_to, self.decided_mail)
            if deliver_to is not None and not needs_approval:
                place_problems.append(f"{where}: deliver_to needs needs_approval=True")
            self.problems.extend(place_problems)
            self.add_tool(dataclasses.replace(tool, timers=own, copies=copies if deliver_to is not None else None))
            return f

        return register(func) if func is not None else register

    def add_tool(self, tool: Tool) -> None:
        if tool.name in BUILTIN_TOOL_NAMES:
            self.problems.append(f"tool {tool.name}: the name is reserved for Signoff's built-in tool")
        elif tool.name in self.tools:
            self.problems.append(f"tool {tool.name}: a tool of that name is defined twice")
        else:
            self.tools[tool.name] = tool

    def check(self) -> None:
        """Raise one AgentDefinitionError listing every problem of the definition, if it has any."""
        if self.problems:
            count = f"{len(self.problems)} problem{'s' if len(self.problems) > 1 else ''}"
            raise AgentDefinitionError(
                f"agent {self.name} is defined with {count}:", *(f"- {p}" for p in self.problems)
            )

    def start(self, startup: Startup) -> None:
        """Build the dependencies, once, when Signoff starts (a no-op without `setup`)."""
        if self.setup is not None:
            self.deps = self.setup(startup)

    def timers_for(self, tool: Tool) -> Timers:
        """The clock of the tool's approval requests: its own, else the agent's."""
        return tool.timers.over(self.timers)

    def copies_for(self, tool: Tool) -> tuple[str, ...]:
        """Where the tool's approval requests go besides the thread: its own places, else the agent's."""
        return tool.copies if tool.copies is not None else self.copies

    def question_clock(self) -> ClockFields:
        """What a question's event carries of the agent's clock."""
        return self.timers.event_fields()

    def approvers_for(self, tool: Tool) -> tuple[str, ...]:
        return tool.approvers or self.approvers

    def all_approvers(self) -> tuple[str, ...]:
        """Everyone who may approve one of this agent's calls."""
        gated = (self.approvers_for(t) for t in self.tools.values() if t.needs_approval)
        return _unique([*self.approvers, *(a for names in gated for a in names)])

    def answerers_for(self, participants: Iterable[str]) -> list[str]:
        """Who may answer a question asked now, in a thread whose humans so far are `participants`."""
        names: list[str] = []
        for name in self.answerers:
            if name == PARTICIPANTS:
                names.extend(participants)
            elif name == APPROVERS:
                names.extend(self.all_approvers())
            else:
                names.append(name)
        return list(_unique(names))

    def tool_schemas(self) -> list[dict[str, Any]]:
        """The schemas the model sees; derived once per set of tools (pydantic's JSON schema generation
        costs more than the rest of a step), copied so a caller cannot change them for the next."""
        self.check()
        tools = tuple(self.tools.values())
        cached = self._schemas
        stale = cached is None or len(cached[0]) != len(tools)
        if cached is None or stale or any(a is not b for a, b in zip(cached[0], tools, strict=True)):
            builtin = [ASK_HUMAN_SCHEMA] if self.ask_human else []
            cached = self._schemas = (tools, [tool.schema() for tool in tools] + builtin)
        return copy.deepcopy(cached[1])

    @property
    def prompt_template(self) -> str:
        self.check()
        assert self._prompt is not None
        return self._prompt.text

    @prompt_template.setter
    def prompt_template(self, text: str) -> None:
        self._prompt = PromptTemplate(text, f"of agent {self.name} (inline text)")

    def system_prompt(self) -> str:
        self.check()
        assert self._prompt is not None
        tool_lines = "\n".join(
            f"- {t.name}{' (needs human approval)' if t.needs_approval else ''}: {t.description.splitlines()[0]}"
            for t in self.tools.values()
        )
        return self._prompt.render(
            {"agent_name": self.name, "description": self.description, "tools": tool_lines or "- (none)"}
        )


def _unique(names: Iterable[str]) -> tuple[str, ...]:
    """Names once each, in order, compared without case (as the allowed check compares them)."""
    seen: dict[str, str] = {}
    for name in names:
        seen.setdefault(name.lower(), name)
    return tuple(seen.values())
