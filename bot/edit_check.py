"""The check of an approver's edit before it is recorded: the request takes edits, the edited
arguments fit its schema and, on an agent's thread, its tool's own validation and the same policy
rule as the call asked for (an edit never moves a call to other approvers or fewer approvals)."""

from __future__ import annotations

from typing import Any, Literal

from agent import edits
from agent.definition import Agent
from agent.errors import ToolArgumentsError
from agent.policy import PolicyError, requirement
from agent.tools import Tool
from channels.base import Edit
from storage.models import RequestRow

Refusal = Literal["invalid_edit", "not_editable", "invalid"]


class EditRefused(Exception):
    """Why an edit cannot be recorded; nothing was decided."""

    def __init__(
        self,
        status: Literal["invalid_edit", "not_editable", "invalid"],
        message: str,
        problems: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status: Refusal = status
        self.problems = problems or {}


def check_edit(agent: Agent, tool: Tool | None, row: RequestRow, edit: Edit, *, approve: bool) -> dict[str, Any]:
    """The arguments as edited, checked; `tool` is the agent's tool when the request is its call."""
    if row.kind != "approval":
        raise EditRefused("invalid", "a question's answer has no arguments to edit")
    if not approve:
        raise EditRefused("invalid_edit", "arguments are edited with an approval, not a denial; nothing was decided")
    schema = row.edit_schema
    if not schema:
        raise EditRefused(
            "not_editable", f"the arguments of {row.tool} cannot be edited; approve or deny them as asked"
        )
    if row.approvals:
        raise EditRefused(
            "not_editable",
            f"{len(row.approvals)} approval(s) already count for these arguments, so they can no longer be edited; "
            "approve or deny them as they are",
        )
    try:
        changes = edits.from_text(schema, edit.values) if edit.text else dict(edit.values)
        edited = edits.apply(schema, dict(row.arguments), changes)
    except edits.EditError as exc:
        why = f"the edited arguments do not fit: {exc}; nothing was decided"
        raise EditRefused("invalid_edit", why, exc.problems) from None
    if tool is None:
        return edited
    try:
        edited = tool.validate(edited)
    except ToolArgumentsError as exc:
        raise EditRefused("invalid_edit", f"{exc}; nothing was decided") from None
    try:
        needs = requirement(agent, tool, edited)
        asked = requirement(agent, tool, dict(row.arguments))
    except PolicyError as exc:
        raise EditRefused("invalid_edit", f"{exc}; nothing was decided") from None
    approvers = {a.lower() for a in needs.approvers}
    # The approvers are compared with the call as asked, not with `allowed`: an escalation adds
    # people who may decide (to `allowed`) without changing the call's policy.
    same = (
        needs.needs_approval
        and needs.rule == (row.rule or "")
        and needs.required == (row.required or 1)
        and needs.no_self_approval == bool(row.no_self_approval)
        and approvers == {a.lower() for a in asked.approvers}
        and approvers <= {a.lower() for a in row.allowed}
    )
    if not same:
        rule = f" (rule: {needs.rule})" if needs.rule else ""
        raise EditRefused(
            "invalid_edit",
            f"with these arguments the call needs another approval than this request{rule}: deny it and tell the "
            "agent what to run instead; nothing was decided",
        )
    return edited
