"""MCP servers' tools as an agent's tools, under the same approval rules as native ones.

Each `[agents.NAME.mcp.SERVER]` entry is one connection (a stdio subprocess, or streamable HTTP),
held open by a task of its own. Its tools join the agent as `SERVER__TOOL`; each needs approval
unless the entry lists it as `read_only` (or its `tools.TOOL` policy says otherwise). Arguments
are checked against the server's own JSON schema before anything runs (when the model asks, and
again before the call). A failed call is a tool error the model reads; a connection that broke
(the process died, the HTTP server went away) makes that call's error say so, and the connection
is started again, with a capped backoff, for the next call.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from agent.definition import Agent
from agent.errors import ToolArgumentsError
from agent.tools import REASON_DESCRIPTION, REASON_FIELD, Tool
from bot.deployment import McpEntry, McpToolPolicy

log = logging.getLogger(__name__)

MAX_SCHEMA_CHARS = 50_000
MAX_DESCRIPTION = 2_000
MAX_RESULT = 50_000


class McpUnavailable(Exception):
    """The server cannot be reached now; it is being started again."""


class McpToolFailed(Exception):
    """The server ran the tool and said it failed."""


class _AnyArguments(BaseModel):
    model_config = ConfigDict(extra="allow")


@dataclass(frozen=True)
class McpTool(Tool):
    """A tool of an MCP server: described and validated by the server's input schema."""

    input_schema: dict[str, Any] = field(default_factory=dict)

    def schema(self) -> dict[str, Any]:
        parameters = copy.deepcopy(self.input_schema) or {"type": "object", "properties": {}}
        if self.needs_approval:
            parameters.setdefault("properties", {})[REASON_FIELD] = {
                "type": "string",
                "description": REASON_DESCRIPTION,
            }
            parameters["required"] = [*parameters.get("required", []), REASON_FIELD]
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": parameters},
        }

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        import jsonschema  # here: only the processes that connect MCP servers load it

        validator = jsonschema.Draft202012Validator(self.input_schema or {"type": "object"})
        problems = [
            f"{'.'.join(str(p) for p in error.absolute_path) or 'arguments'}: {error.message[:300]}"
            for error in list(validator.iter_errors(arguments))[:10]
        ]
        if problems:
            raise ToolArgumentsError(f"invalid arguments for {self.name}: {'; '.join(problems)}")
        return dict(arguments)


def tool_name(server: str, remote: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_-]", "_", f"{server}__{remote}")[:64]


def render_result(result: Any) -> str:
    """The call's result as the model reads it: its text parts, else its structured content."""
    parts: list[str] = []
    for item in getattr(result, "content", None) or []:
        text = getattr(item, "text", None)
        parts.append(text if isinstance(text, str) else f"[{getattr(item, 'type', 'content')}]")
    structured = getattr(result, "structured_content", None) or getattr(result, "structuredContent", None)
    if not parts and structured is not None:
        parts.append(json.dumps(structured, default=str, separators=(",", ":")))
    text = "\n".join(parts) or "ok"
    return text[:MAX_RESULT]


Connect = Callable[[], Any]


class McpConnection:
    """One MCP server, held open by its own task; started again when it breaks."""

    def __init__(self, agent: str, server: str, entry: McpEntry, on_tools: Callable[[list[Any]], None]) -> None:
        self.agent = agent
        self.server = server
        self.entry = entry
        self.on_tools = on_tools
        self.restarts = 0
        self.last_error = ""  # why it last stopped, for `agents check` and `doctor`
        self._client: Any = None
        self._ready = asyncio.Event()
        self._broken = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    @property
    def label(self) -> str:
        return f"MCP server {self.server} of agent {self.agent}"

    def _client_for(self) -> Any:
        from mcp import Client
        from mcp.client.stdio import StdioServerParameters

        target: Any
        if self.entry.url:
            target = self.entry.url
        else:
            command, *args = self.entry.command
            target = StdioServerParameters(command=command, args=args, env=dict(self.entry.env) or None)
        return Client(target, read_timeout_seconds=self.entry.timeout_seconds)

    async def start(self, wait: float) -> bool:
        """Start the connection's task; whether it connected within `wait` seconds (it keeps trying)."""
        self._task = asyncio.create_task(self._run(), name=f"mcp-{self.agent}-{self.server}")
        try:
            await asyncio.wait_for(self._ready.wait(), timeout=wait)
        except TimeoutError:
            log.error("%s did not answer within %gs; its tools are missing until it does", self.label, wait)
            return False
        return True

    async def _run(self) -> None:
        delay = 0.5
        while not self._closing:
            try:
                async with self._client_for() as client:
                    listed = await client.list_tools()
                    self.on_tools(list(listed.tools))
                    self._client = client
                    self._ready.set()
                    delay = 0.5
                    log.info("%s connected: %d tools", self.label, len(listed.tools))
                    await self._broken.wait()
            except asyncio.CancelledError:
                raise
            except BaseException as exc:  # an ExceptionGroup from the transport's task group, too
                self.last_error = _first_line(exc)
                log.error("%s stopped: %s", self.label, self.last_error)
            finally:
                self._client = None
                self._ready.clear()
                self._broken.clear()  # nothing holds the old connection any more
            if self._closing:
                return
            self.restarts += 1
            log.info("%s: starting it again in %gs", self.label, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)

    async def call(self, remote: str, arguments: dict[str, Any]) -> str:
        """Run the tool; a connection being started again is waited for, up to the entry's timeout."""
        if self._client is None:
            try:
                await asyncio.wait_for(self._ready.wait(), timeout=self.entry.timeout_seconds)
            except TimeoutError:
                raise McpUnavailable(f"{self.label} is not connected; it is being started again") from None
        client = self._client
        if client is None:
            raise McpUnavailable(f"{self.label} is not connected; it is being started again")
        try:
            result = await asyncio.wait_for(client.call_tool(remote, arguments), timeout=self.entry.timeout_seconds)
        except Exception as exc:
            if _refused(exc):  # the server answered with an error: it is alive
                raise McpToolFailed(f"{self.label} refused the call: {_first_line(exc)}") from exc
            if self._client is client:  # the next call waits for the new connection
                self._client = None
                self._ready.clear()
                self._broken.set()
            raise McpUnavailable(
                f"{self.label} failed during the call ({_first_line(exc)}); it is being started again"
            ) from exc
        if getattr(result, "is_error", False) or getattr(result, "isError", False):
            raise McpToolFailed(render_result(result))
        return render_result(result)

    async def close(self) -> None:
        self._closing = True
        self._broken.set()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


def _refused(exc: Exception) -> bool:
    """An error the server sent (an unknown tool, bad parameters), not a broken connection or a timeout."""
    from mcp.shared.exceptions import MCPError
    from mcp_types import CONNECTION_CLOSED, REQUEST_TIMEOUT

    return isinstance(exc, MCPError) and exc.code not in (CONNECTION_CLOSED, REQUEST_TIMEOUT)


def _first_line(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:300]}"


def build_tool(server: str, entry: McpEntry, remote: Any, call: Callable[..., Awaitable[str]]) -> McpTool | None:
    """The agent's tool for one of the server's tools, or None when it cannot be offered."""
    schema = dict(getattr(remote, "input_schema", None) or getattr(remote, "inputSchema", None) or {})
    policy = entry.tools.get(remote.name, McpToolPolicy(needs_approval=remote.name not in entry.read_only, required=1))
    gated = policy.needs_approval and remote.name not in entry.read_only
    if len(json.dumps(schema)) > MAX_SCHEMA_CHARS:
        log.error("MCP tool %s of %s: its schema is too large; not offered", remote.name, server)
        return None
    if gated and REASON_FIELD in schema.get("properties", {}):
        log.error("MCP tool %s of %s: a gated tool may not take %r; not offered", remote.name, server, REASON_FIELD)
        return None
    import jsonschema

    try:
        jsonschema.Draft202012Validator.check_schema(schema or {"type": "object"})
    except jsonschema.SchemaError as exc:
        log.error("MCP tool %s of %s: its input schema is invalid (%s); not offered", remote.name, server, exc.message)
        return None
    description = (getattr(remote, "description", None) or remote.name)[:MAX_DESCRIPTION]
    return McpTool(
        name=tool_name(server, remote.name),
        description=f"{description} (MCP server {server})",
        func=call,
        arguments_model=_AnyArguments,
        needs_approval=gated,
        approvers=tuple(policy.approvers or entry.approvers),
        required=policy.required,
        input_schema=schema,
    )


def _caller(connection: Callable[[], McpConnection], remote: str) -> Callable[..., Awaitable[str]]:
    async def call(**arguments: Any) -> str:
        return await connection().call(remote, arguments)

    return call


async def probe(agent: str, server: str, entry: McpEntry, wait: float = 15.0) -> list[McpTool]:
    """Connect once and list the tools the agent would get (for `signoff agents check`); McpUnavailable."""
    tools: list[McpTool] = []

    async def missing(**_arguments: Any) -> str:
        raise McpUnavailable("a probe's tool does not run")

    def listed(remote: list[Any]) -> None:
        tools.extend(t for t in (build_tool(server, entry, r, missing) for r in remote) if t is not None)

    connection = McpConnection(agent, server, entry, listed)
    try:
        if not await connection.start(wait):
            why = f" (it stopped: {connection.last_error})" if connection.last_error else ""
            raise McpUnavailable(f"{connection.label} did not answer within {wait:g}s{why}")
    finally:
        await connection.close()
    return tools


class McpTools:
    """Every MCP connection of the deployment's agents; their tools registered on the agents."""

    def __init__(self, agents: dict[str, tuple[Agent, dict[str, McpEntry]]]) -> None:
        self.connections: list[McpConnection] = []
        for agent_name, (agent, servers) in agents.items():
            for server, entry in servers.items():
                self.connections.append(self._connection(agent_name, agent, server, entry))

    @staticmethod
    def _connection(agent_name: str, agent: Agent, server: str, entry: McpEntry) -> McpConnection:
        connection: McpConnection

        def register(tools: list[Any]) -> None:
            for remote in tools:
                name = tool_name(server, remote.name)
                if name in agent.tools:
                    existing = agent.tools[name]
                    if not isinstance(existing, McpTool):
                        log.error("MCP tool %s: agent %s has a tool of that name; not offered", name, agent_name)
                    continue

                tool = build_tool(server, entry, remote, _caller(lambda: connection, remote.name))
                if tool is not None:
                    agent.tools[name] = tool

        connection = McpConnection(agent_name, server, entry, register)
        return connection

    async def start(self) -> None:
        """Connect to every server, each given its entry's timeout; a server still not answering
        is left connecting in the background (its tools join when it does)."""
        await asyncio.gather(*(c.start(c.entry.timeout_seconds) for c in self.connections))

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.connections))
