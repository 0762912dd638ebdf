"""The bundled example: an ops assistant over a small service inventory.

Set SIGNOFF_AGENT to your own `module:attribute` to run your agent instead; this module shows the
shape: a prompt file, typed tools, and `needs_approval=True` on the risky ones.
"""

from __future__ import annotations

from pathlib import Path

from agent import Agent, Startup, ToolContext
from bot.example_agent.inventory import Inventory


def open_inventory(startup: Startup) -> Inventory:
    """The inventory lives in Signoff's database; its tables are made here if missing."""
    from bot.example_agent.models import create_tables
    from storage.db import Database

    if not isinstance(startup.database, Database):
        raise TypeError("the example agent keeps its inventory in Signoff's database; start it with `signoff serve`")
    create_tables(startup.database)
    return Inventory(startup.database)


agent = Agent[Inventory](
    "signoff-ops",
    description="Services: payments, search, web (and any added to the inventory).",
    prompt=Path(__file__).with_name("prompt.txt"),
    setup=open_inventory,
)

Context = ToolContext[Inventory]


@agent.tool
def list_services(ctx: Context) -> list[dict[str, object]]:
    """List the services in the inventory with their version and state."""
    return [
        {"name": s.name, "version": s.version, "state": s.state, "restarts": s.restarts} for s in ctx.deps.services()
    ]


@agent.tool
def service_status(name: str, ctx: Context) -> dict[str, object]:
    """Show one service's version, state and how often it was restarted."""
    s = ctx.deps.get(name)
    return {"name": s.name, "version": s.version, "state": s.state, "restarts": s.restarts}


# Both gated tools key their effects on ctx.call_id (the inventory records each call once), so they
# are idempotent: a call cut short after it started is retried with the same id, not asked again.
# A restart may be approved by the person who asked: the quickstart has a single approver, who asks on
# the web inbox's "Try the agent" and approves there. A deploy keeps the default: someone else approves.
@agent.tool(needs_approval=True, idempotent=True, self_approval=True)
def restart_service(name: str, ctx: Context) -> str:
    """Restart a service. Needs a human's approval."""
    return ctx.deps.act(
        call_id=ctx.call_id, thread_id=ctx.thread_id, service=name, action="restart", approved_by=ctx.approved_by
    )


@agent.tool(needs_approval=True, idempotent=True)
def deploy(service: str, version: str, ctx: Context) -> str:
    """Deploy a version of a service. Needs a human's approval."""
    return ctx.deps.act(
        call_id=ctx.call_id,
        thread_id=ctx.thread_id,
        service=service,
        action="deploy",
        approved_by=ctx.approved_by,
        version=version,
    )
