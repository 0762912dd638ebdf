"""Edits before approving: the fields an approver may change, and the check of what they typed.

A gated call's request carries the JSON schema of its arguments (`ApprovalRequested.edit_schema`,
from the tool's type hints, or inferred from the arguments of a standalone request). An approver
edits by giving some arguments anew (the others keep their values): as JSON (the HTTP API) or as
text (a Slack modal, `key: value` lines in a mail, a web form), read by the field's type. The
result is checked against the schema here; an agent's tool validates it again (its pydantic model)
before anything is recorded. Pure: no I/O.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAX_EDIT_CHARS = 10_000  # an edited call must stay as readable as the one asked for
JSON_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
    "array": list,
    "object": dict,
}


class EditError(ValueError):
    """Edited arguments that do not fit: `problems` maps a field (or `arguments`) to what is wrong."""

    def __init__(self, problems: dict[str, str]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{name}: {why}" for name, why in problems.items()))


@dataclass(frozen=True)
class Field:
    """One argument as an edit form shows it. `kind`: string, integer, number, boolean, choice
    (one of `choices`) or json (anything else, typed as JSON)."""

    name: str
    kind: str
    required: bool
    description: str = ""
    choices: tuple[str, ...] = ()
    nullable: bool = False


def infer_schema(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The schema of a standalone request's arguments: the same names, each of the type it was given as."""
    properties: dict[str, Any] = {}
    for name, value in arguments.items():
        kind = next((k for k, t in JSON_TYPES.items() if k != "number" and _is(value, t)), None)
        if isinstance(value, float):
            kind = "number"
        properties[name] = {"type": kind} if kind else {}
    return {"type": "object", "properties": properties, "required": list(arguments), "additionalProperties": False}


def tool_schema(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """A tool's parameters schema (as the model sees it) as an edit schema: its fields, no extras."""
    schema: dict[str, Any] = json.loads(json.dumps(dict(parameters)))
    schema["additionalProperties"] = False
    return schema


def fields(schema: Mapping[str, Any]) -> list[Field]:
    required = set(schema.get("required") or [])
    out = []
    for name, prop in (schema.get("properties") or {}).items():
        branches = [b for b in prop.get("anyOf", [prop]) if isinstance(b, dict)]
        nullable = any(b.get("type") == "null" for b in branches)
        typed = [b for b in branches if b.get("type") != "null"]
        kind = "json"
        choices: tuple[str, ...] = ()
        if len(typed) == 1:
            enum = typed[0].get("enum")
            if isinstance(enum, list) and enum and all(isinstance(v, str) for v in enum):
                kind, choices = "choice", tuple(enum)
            elif typed[0].get("type") in ("string", "integer", "number", "boolean"):
                kind = str(typed[0]["type"])
        description = str(prop.get("description") or "")
        out.append(Field(name, kind, name in required, description[:300], choices, nullable))
    return out


def as_text(value: Any) -> str:
    """A value as an edit form prefills it (read back by `from_text`)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def from_text(schema: Mapping[str, Any], typed: Mapping[str, str]) -> dict[str, Any]:
    """Values typed as text, read by each field's type; raises EditError naming each bad field."""
    by_name = {f.name: f for f in fields(schema)}
    values: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for name, text in typed.items():
        field = by_name.get(name)
        if field is None:
            problems[name] = f"not an argument (the arguments are: {', '.join(by_name) or 'none'})"
            continue
        text = text.strip()
        try:
            values[name] = _read(field, text)
        except ValueError as exc:
            problems[name] = str(exc)
    if problems:
        raise EditError(problems)
    return values


def _read(field: Field, text: str) -> Any:
    if field.nullable and text in ("", "null"):
        return None
    if field.kind in ("string", "choice"):
        return text
    if field.kind == "integer":
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"{text[:50]!r} is not a whole number") from None
    if field.kind == "number":
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"{text[:50]!r} is not a number") from None
        if not math.isfinite(number):
            raise ValueError("must be a finite number")
        return int(number) if number.is_integer() and "." not in text and "e" not in text.lower() else number
    if field.kind == "boolean":
        lowered = text.lower()
        if lowered in ("true", "yes", "on", "1"):
            return True
        if lowered in ("false", "no", "off", "0"):
            return False
        raise ValueError(f"{text[:50]!r} is not true or false")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise ValueError("write it as JSON") from None


def apply(schema: Mapping[str, Any], current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """`current` with `changes` applied, checked against `schema`; raises EditError."""
    problems: dict[str, str] = {}
    properties: Mapping[str, Any] = schema.get("properties") or {}
    for name in changes:
        if name not in properties:
            problems[name] = f"not an argument (the arguments are: {', '.join(properties) or 'none'})"
    edited = {**current, **{k: v for k, v in changes.items() if k in properties}}
    for name in schema.get("required") or []:
        if name not in edited:
            problems[name] = "is required"
    for name, value in edited.items():
        prop = properties.get(name)
        if prop is not None and name not in problems:
            why = _mismatch(prop, value)
            if why:
                problems[name] = why
    if not problems and len(json.dumps(edited, ensure_ascii=False)) > MAX_EDIT_CHARS:
        problems["arguments"] = f"more than {MAX_EDIT_CHARS} characters once edited"
    if problems:
        raise EditError(problems)
    return edited


def _mismatch(prop: Mapping[str, Any], value: Any) -> str | None:
    branches = [b for b in prop.get("anyOf", [prop]) if isinstance(b, dict)]
    if not branches or any(_fits(b, value) for b in branches):
        return None
    enum = next((b["enum"] for b in branches if isinstance(b.get("enum"), list)), None)
    if enum is not None:
        return "must be one of " + ", ".join(json.dumps(v) for v in enum[:20])
    kinds = [str(b.get("type")) for b in branches if b.get("type")]
    return f"must be {' or '.join(kinds) or 'a different value'}, not {_kind_of(value)}"


def _fits(branch: Mapping[str, Any], value: Any) -> bool:
    enum = branch.get("enum")
    if isinstance(enum, list) and value not in enum:
        return False
    kind = branch.get("type")
    if kind is None:
        return True
    if kind == "null":
        return value is None
    expected = JSON_TYPES.get(str(kind))
    return expected is not None and _is(value, expected)


def _is(value: Any, expected: type | tuple[type, ...]) -> bool:
    # bool is an int in Python, never in JSON
    return isinstance(value, expected) and not (isinstance(value, bool) and expected is not bool)


def _kind_of(value: Any) -> str:
    if value is None:
        return "null"
    return next((k for k, t in JSON_TYPES.items() if _is(value, t)), type(value).__name__)


def changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """What an edit changed: name -> (before, after); a missing value is None."""
    names = [*before, *(k for k in after if k not in before)]
    return {
        n: (before.get(n), after.get(n))
        for n in names
        if before.get(n) != after.get(n) or (n in before) != (n in after)
    }
