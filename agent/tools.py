"""Tools are plain typed Python functions; their JSON schema comes from the type hints.

A tool may take a `ToolContext` parameter (any name, annotated `ToolContext`): it is filled in by
the runner and never shown to the model. Arguments from the model are validated against the
signature before anything runs.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, get_origin, get_type_hints

import docstring_parser
import typing_extensions
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from agent import edits
from agent.errors import AgentDefinitionError, ToolArgumentsError
from agent.grants import Grants
from agent.timers import Timers

REASON_FIELD = "reason"
REASON_DESCRIPTION = "Why you want to run this now; shown to the humans who approve it."


# Defaults to Any, so `Agent` and `ToolContext` without a type argument mean what they always did.
DepsT = typing_extensions.TypeVar("DepsT", default=Any)


@dataclass(frozen=True)
class ToolContext(Generic[DepsT]):
    """What a running tool may know about its call.

    `call_id` is stable across retries of the same call: tools with effects should use it as an
    idempotency key, so a call re-run after a crash does its effect once. For a tool declared
    `idempotent=True`, a call its approvers chose to run again after its outcome was unknown keeps
    the first call's id here, so an effect the first run did is not done twice. `approved_by` names who
    approved a gated call. `deps` is the agent's dependencies (`Agent(deps=...)` or built by its
    `setup` at start), typed: annotate the parameter `ToolContext[MyDeps]`.
    """

    thread_id: str
    call_id: str
    approved_by: str | None = None
    deps: DepsT = None  # type: ignore[assignment]


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    func: Callable[..., Any]
    arguments_model: type[BaseModel]
    context_parameter: str | None = None
    needs_approval: bool = False
    approvers: tuple[str, ...] = field(default_factory=tuple)
    approval_channel: str | None = None
    # Safe to run again with the same call id (its effects are keyed on `ctx.call_id`): a gated call
    # interrupted after it started is retried, instead of asking the approvers whether to.
    idempotent: bool = False
    # The approval policy (agent/policy.py): distinct approvals needed, whether the person who
    # asked may approve (None: the agent's setting), and a function of the arguments.
    required: int = 1
    self_approval: bool | None = None
    policy: Callable[[dict[str, Any]], Any] | None = None
    # Standing grants its approvers may give (agent/grants.py); None: none. `destructive` marks a
    # tool whose effects cannot be undone: it never allows a grant by default.
    grants: Grants | None = None
    destructive: bool = False
    # When its approval requests remind, escalate and expire (over the agent's; agent/timers.py).
    timers: Timers = field(default_factory=Timers)
    # Whether an approver may change a gated call's arguments before approving (agent/edits.py).
    editable: bool = True
    # Where its approval requests go besides the thread (agent/places.py); None: the agent's places.
    copies: tuple[str, ...] | None = None

    def edit_schema(self) -> dict[str, Any] | None:
        """The schema an approver's edit must fit; None when the tool does not take edits."""
        if not (self.needs_approval and self.editable):
            return None
        parameters = self.arguments_model.model_json_schema()
        parameters.pop("title", None)
        for prop in parameters.get("properties", {}).values():
            prop.pop("title", None)
        return edits.tool_schema(parameters)

    def schema(self) -> dict[str, Any]:
        """The OpenAI-style function schema the model sees."""
        parameters = self.arguments_model.model_json_schema()
        parameters.pop("title", None)
        for prop in parameters.get("properties", {}).values():
            prop.pop("title", None)
        if self.needs_approval:
            parameters.setdefault("properties", {})[REASON_FIELD] = {
                "type": "string",
                "description": REASON_DESCRIPTION,
            }
            parameters.setdefault("required", []).append(REASON_FIELD)
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": parameters},
        }

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Return the arguments as the function will receive them, or raise ToolArgumentsError."""
        try:
            model = self.arguments_model.model_validate(arguments)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'arguments'}: {err['msg']}" for err in exc.errors()
            )
            raise ToolArgumentsError(f"invalid arguments for {self.name}: {problems}") from exc
        return model.model_dump(mode="json")


def render_result(result: Any) -> str:
    if result is None:
        return "ok"
    if isinstance(result, str):
        return result
    if isinstance(result, BaseModel):
        return result.model_dump_json()
    return json.dumps(result, default=str, separators=(",", ":"))


def make_tool(
    func: Callable[..., Any],
    *,
    name: str | None = None,
    needs_approval: bool = False,
    approvers: tuple[str, ...] | list[str] = (),
    approval_channel: str | None = None,
    idempotent: bool = False,
    required: int = 1,
    self_approval: bool | None = None,
    policy: Callable[[dict[str, Any]], Any] | None = None,
    grants: Grants | None = None,
    destructive: bool = False,
    editable: bool = True,
) -> Tool:
    tool_name = name or func.__name__
    problems: list[str] = []

    def problem(text: str) -> None:
        problems.append(f"tool {tool_name}: {text}")

    try:
        hints = get_type_hints(func)
    except Exception as exc:  # a forward reference that does not resolve, say
        problem(f"its type hints cannot be read ({type(exc).__name__}: {exc})")
        hints = {}
    docstring = docstring_parser.parse(func.__doc__ or "")
    if not (docstring.short_description or "").strip():
        problem("has no docstring: the model reads it to know what the tool does and when to use it")
    documented = {param.arg_name: " ".join((param.description or "").split()) for param in docstring.params}
    fields: dict[str, Any] = {}
    context_parameter: str | None = None
    parameters = inspect.signature(func).parameters
    for param in parameters.values():
        annotation = hints.get(param.name, inspect.Parameter.empty)
        if annotation is ToolContext or get_origin(annotation) is ToolContext:
            context_parameter = param.name
            continue
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            problem(f"*{param.name} cannot be described to a model; name each parameter")
            continue
        if param.name == REASON_FIELD and needs_approval:
            problem(f"the parameter name '{REASON_FIELD}' is reserved on a gated tool (it carries the model's reason)")
            continue
        if annotation is inspect.Parameter.empty:
            problem(f"parameter {param.name!r} has no type annotation; the model's arguments are validated by it")
            annotation = Any
        default = ... if param.default is inspect.Parameter.empty else param.default
        description = documented.get(param.name) or None
        fields[param.name] = (annotation, Field(default, description=description))
    if required < 1:
        problem(f"required={required}: a gated call needs at least 1 approval")
    if policy is not None and not needs_approval:
        problem("a policy applies to a gated tool only: add needs_approval=True")
    if policy is not None and not callable(policy):
        problem("policy must be a function of the arguments returning a Rule or None")
    if grants is not None and not needs_approval:
        problem("grants apply to a gated tool only: add needs_approval=True")
    if grants is not None and not isinstance(grants, Grants):
        problem("grants must be an agent.grants.Grants")
    elif grants is not None:
        problems.extend(f"tool {tool_name}: {p}" for p in grants.problems(set(fields)))
    for documented_name in documented:
        if documented_name not in parameters:
            problem(f"its docstring describes {documented_name!r}, which is not a parameter")
    model: type[BaseModel] | None = None
    try:
        model = create_model(f"{tool_name}_arguments", __config__=ConfigDict(extra="forbid"), **fields)
        model.model_json_schema()
    except Exception as exc:  # an annotation pydantic cannot validate or describe (a Callable, say)
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        problem(f"its parameters cannot be described to a model: {first_line}")
    if problems or model is None:
        raise AgentDefinitionError(*problems)
    # The model reads the summary and the long description; parameters are described in the schema.
    summary = "\n\n".join(part for part in (docstring.short_description, docstring.long_description) if part)
    description = summary.strip() or tool_name.replace("_", " ")
    return Tool(
        name=tool_name,
        description=description,
        func=func,
        arguments_model=model,
        context_parameter=context_parameter,
        needs_approval=needs_approval,
        approvers=tuple(approvers),
        approval_channel=approval_channel,
        idempotent=idempotent,
        required=required,
        self_approval=self_approval,
        policy=policy,
        grants=grants,
        destructive=destructive,
        editable=editable,
    )
