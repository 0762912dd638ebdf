"""A test agent with slow, approval-gated tools that keep a journal of their runs.

Loaded by a real `signoff serve` through `SIGNOFF_AGENT=tests.support.slow_agent:agent` (the repo
root is on the subprocess's path). Each tool appends `start <tool> <call id>` to the file named by
`SLOW_AGENT_JOURNAL` before it sleeps, and `finish <tool> <call id>` after (each line ends with the
process id), each written and fsynced on its own, so a test can count how often a body started and
ended, and where, even across a SIGKILL.

- `slow_change(name, seconds)`: a plain `def` (runs on a tool thread), like most users' tools.
- `slow_async_change(name, seconds)`: the same as a coroutine.
- `slow_idempotent_change(name, seconds)`: declared `idempotent=True`: safe to run again with the same call id.

`journal(path)` reads the lines back as (what, tool, call id) tuples; `journal_pids(path)` the process
ids, in the same order.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from agent import Agent, ToolContext

JOURNAL_ENV = "SLOW_AGENT_JOURNAL"

agent = Agent("slow", description="Makes slow changes.", approvers=["alice@example.com"])


def _note(what: str, tool: str, ctx: ToolContext) -> None:
    path = os.environ.get(JOURNAL_ENV)
    if not path:
        raise RuntimeError(f"{JOURNAL_ENV} is not set")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, f"{what} {tool} {ctx.call_id} {os.getpid()}\n".encode())
        os.fsync(fd)
    finally:
        os.close(fd)


@agent.tool(needs_approval=True)
def slow_change(name: str, seconds: float, ctx: ToolContext) -> str:
    """Change something slowly."""
    _note("start", "slow_change", ctx)
    time.sleep(seconds)
    _note("finish", "slow_change", ctx)
    return f"changed {name}"


@agent.tool(needs_approval=True)
async def slow_async_change(name: str, seconds: float, ctx: ToolContext) -> str:
    """Change something slowly, without a thread."""
    _note("start", "slow_async_change", ctx)
    await asyncio.sleep(seconds)
    _note("finish", "slow_async_change", ctx)
    return f"changed {name}"


@agent.tool(needs_approval=True, idempotent=True)
def slow_idempotent_change(name: str, seconds: float, ctx: ToolContext) -> str:
    """Change something slowly; running it again with the same call id is safe."""
    _note("start", "slow_idempotent_change", ctx)
    time.sleep(seconds)
    _note("finish", "slow_idempotent_change", ctx)
    return f"changed {name}"


def journal(path: Path) -> list[tuple[str, str, str]]:
    if not path.exists():
        return []
    lines = [line.split() for line in path.read_text().splitlines() if line.strip()]
    return [(what, tool, call_id) for what, tool, call_id, _ in lines]


def journal_pids(path: Path) -> list[int]:
    if not path.exists():
        return []
    return [int(line.split()[3]) for line in path.read_text().splitlines() if line.strip()]
