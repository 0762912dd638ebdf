"""The bundled example: an ops assistant over a small service inventory.

Set SIGNOFF_AGENT to your own `module:attribute` to run your agent instead; this module shows the
shape: a prompt file, typed tools, and `needs_approval=True` on the risky ones.
"""

from __future__ import annotations

from pathlib import Path

from agent import Agent, ToolContext
from bot.example_agent.inventory import Inventory

agent = Agent(
    "signoff-ops",
    description="Services: payments, search, web (and any added to the inventory).",
    prompt=Path(__file__).with_name("prompt.txt"),
)


def _inventory(ctx: ToolContext) -> Inventory:
    if not isinstance(ctx.deps, Inventory):
        raise RuntimeError("the example agent needs its inventory (bot wiring sets agent.deps)")
    return ctx.deps


@agent.tool
def list_services(ctx: ToolContext) -> list[dict[str, object]]:
    """List the services in the inventory with their version and state."""
    return [
        {"name": s.name, "version": s.version, "state": s.state, "restarts": s.restarts}
        for s in _inventory(ctx).services()
    ]


@agent.tool
def service_status(name: str, ctx: ToolContext) -> dict[str, object]:
    """Show one service's version, state and how often it was restarted."""
    s = _inventory(ctx).get(name)
    return {"name": s.name, "version": s.version, "state": s.state, "restarts": s.restarts}


# Both gated tools key their effects on ctx.call_id (the inventory records each call once), so they
# are idempotent: a call cut short after it started is retried with the same id, not asked again.
@agent.tool(needs_approval=True, idempotent=True)
def restart_service(name: str, ctx: ToolContext) -> str:
    """Restart a service. Needs a human's approval."""
    return _inventory(ctx).act(
        call_id=ctx.call_id, thread_id=ctx.thread_id, service=name, action="restart", approved_by=ctx.approved_by
    )


@agent.tool(needs_approval=True, idempotent=True)
def deploy(service: str, version: str, ctx: ToolContext) -> str:
    """Deploy a version of a service. Needs a human's approval."""
    return _inventory(ctx).act(
        call_id=ctx.call_id,
        thread_id=ctx.thread_id,
        service=service,
        action="deploy",
        approved_by=ctx.approved_by,
        version=version,
    )


def bind(db: object) -> None:
    """Called by the bot's wiring with its Database."""
    from storage.db import Database

    if isinstance(db, Database):
        agent.deps = Inventory(db)
