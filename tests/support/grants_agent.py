"""A test agent for standing grants: `restart(name)` allows every kind of grant (this thread up to
8 hours, any thread up to 1 hour, exact arguments up to 7 days); `deploy(service, env)` allows
thread grants but needs two approvers for prod; `drop_database(name)` is destructive and allows
none. alice, bob and carol (the directory's names) approve; alice's address is named too, so that
she may sign in to the web inbox. Loaded by `signoff serve` through
`SIGNOFF_AGENT=tests.support.grants_agent:agent`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from agent import Agent, Grants, ToolContext
from agent.policy import Rule

APPROVERS = ["alice", "bob", "carol", "alice@example.com"]

agent = Agent("granter", description="Restarts and deploys services.", approvers=APPROVERS)


@agent.tool(
    needs_approval=True,
    grants=Grants(thread=timedelta(hours=8), duration=timedelta(hours=1), arguments=timedelta(days=7)),
)
def restart(name: str, ctx: ToolContext) -> str:
    """Restart a service.

    Args:
        name: The service, e.g. web.
    """
    return f"restarted {name} (approved by {ctx.approved_by})"


def prod_needs_two(args: dict[str, Any]) -> Rule | None:
    return Rule("prod needs two approvers", required=2) if args["env"] == "prod" else None


@agent.tool(needs_approval=True, policy=prod_needs_two, grants=Grants(thread=timedelta(hours=1)))
def deploy(service: str, env: str) -> str:
    """Deploy a service.

    Args:
        service: The service.
        env: staging or prod.
    """
    return f"deployed {service} to {env}"


@agent.tool(needs_approval=True, destructive=True)
def drop_database(name: str) -> str:
    """Drop a database for good.

    Args:
        name: The database.
    """
    return f"dropped {name}"
