"""A test agent whose gated tools have different approvers, and which notes every run in a journal.

Loaded by a real `signoff serve` through `SIGNOFF_AGENT=tests.support.two_teams_agent:agent`:
`restart_service(name)` is decided by the agent's approvers (SIGNOFF_APPROVERS), `wire_money(amount)`
only by carol@example.com. Each run appends `<tool> <call id> <arguments as JSON>` to the file named
by `TWO_TEAMS_JOURNAL`, so a test counts how often a tool ran, and with what.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from agent import Agent, ToolContext

JOURNAL_ENV = "TWO_TEAMS_JOURNAL"
CAROL = "carol@example.com"

agent = Agent("two-teams", description="Restarts services; wires money.")


def _note(tool: str, ctx: ToolContext, arguments: dict[str, str]) -> None:
    with open(os.environ[JOURNAL_ENV], "a", encoding="utf-8") as journal:
        journal.write(f"{tool} {ctx.call_id} {json.dumps(arguments)}\n")


# The web inbox's "Try the agent" test starts a thread and approves it as the same person: this
# tool allows it (no-self-approval is the default for gated tools, and wire_money keeps it).
@agent.tool(needs_approval=True, self_approval=True)
def restart_service(name: str, ctx: ToolContext) -> str:
    """Restart a service. Needs a human's approval."""
    _note("restart_service", ctx, {"name": name})
    return f"restarted {name}"


@agent.tool(needs_approval=True, approvers=[CAROL])
def wire_money(amount: str, ctx: ToolContext) -> str:
    """Send money. Only Carol may approve."""
    _note("wire_money", ctx, {"amount": amount})
    return f"sent {amount}"


def journal(path: Path) -> list[tuple[str, str, dict[str, str]]]:
    if not path.exists():
        return []
    runs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        tool, call_id, arguments = line.split(" ", 2)
        runs.append((tool, call_id, json.loads(arguments)))
    return runs
