"""An MCP server's tool becomes an agent tool named SERVER__TOOL: gated unless its entry lists it as
read-only (or its policy says so), described by the server's own schema (plus the reason a gated
call carries), and its arguments checked against that schema before anything runs."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from agent.errors import ToolArgumentsError
from bot.deployment import McpEntry
from bot.mcp_tools import build_tool, render_result

SCHEMA = {
    "type": "object",
    "properties": {"path": {"type": "string"}, "lines": {"type": "integer", "minimum": 1}},
    "required": ["path"],
}
ENTRY = McpEntry.model_validate(
    {
        "command": ["files-server"],
        "read_only": ["read_file"],
        "approvers": ["alice@example.com"],
        "tools": {"delete_file": {"required": 2, "approvers": ["bob@example.com", "carol@example.com"]}},
    }
)


async def never(**_arguments: Any) -> str:
    raise AssertionError("not called here")


def tool(name: str, schema: dict[str, Any] | None = None) -> Any:
    remote = SimpleNamespace(name=name, description=f"{name} on the server", input_schema=schema or SCHEMA)
    built = build_tool("files", ENTRY, remote, never)
    assert built is not None
    return built


def test_read_only_tools_run_freely_and_the_rest_need_approval() -> None:
    read, write, delete = tool("read_file"), tool("write_file"), tool("delete_file")
    assert (read.name, read.needs_approval) == ("files__read_file", False)
    assert (write.needs_approval, write.approvers, write.required) == (True, ("alice@example.com",), 1)
    assert (delete.needs_approval, delete.approvers, delete.required) == (
        True,
        ("bob@example.com", "carol@example.com"),
        2,
    )
    assert "reason" in write.schema()["function"]["parameters"]["required"]
    assert "reason" not in read.schema()["function"]["parameters"]["properties"]
    assert read.schema()["function"]["description"] == "read_file on the server (MCP server files)"


def test_arguments_are_checked_against_the_servers_schema() -> None:
    read = tool("read_file")
    assert read.validate({"path": "/etc/motd", "lines": 3}) == {"path": "/etc/motd", "lines": 3}
    with pytest.raises(ToolArgumentsError, match="lines: 0 is less than the minimum of 1"):
        read.validate({"path": "/etc/motd", "lines": 0})
    with pytest.raises(ToolArgumentsError, match="'path' is a required property"):
        read.validate({})


def test_a_tool_that_cannot_be_offered_is_left_out() -> None:
    taking_reason = {"type": "object", "properties": {"reason": {"type": "string"}}}
    remote = SimpleNamespace(name="write_file", description="", input_schema=taking_reason)
    assert build_tool("files", ENTRY, remote, never) is None
    broken = SimpleNamespace(name="x", description="", input_schema={"type": "no-such-type"})
    assert build_tool("files", ENTRY, broken, never) is None


def test_results_are_the_text_parts_else_the_structured_content() -> None:
    text = SimpleNamespace(content=[SimpleNamespace(type="text", text="a"), SimpleNamespace(type="image")])
    assert render_result(text) == "a\n[image]"
    assert render_result(SimpleNamespace(content=[], structured_content={"n": 1})) == '{"n":1}'
