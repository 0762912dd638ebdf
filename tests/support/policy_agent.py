"""The README's example of people and policies, as a test agent: `deploy(service, env)` needs two
distinct SREs for prod, nobody for staging, one approver elsewhere; the person who asked may never
approve their own deploy. Loaded by `signoff serve` through
`SIGNOFF_AGENT=tests.support.policy_agent:agent`; the directory must know alice, bob and carol.
"""

from __future__ import annotations

from typing import Any

from agent import Agent, ToolContext
from agent.policy import Rule

SRES = ["alice", "bob", "carol"]  # directory names: each person's Slack ids and addresses count

agent = Agent("deployer", description="Deploys services to staging and prod.", approvers=SRES)


def deploy_policy(args: dict[str, Any]) -> Rule | None:
    if args["env"] == "prod":
        return Rule("prod needs two SREs", approvers=SRES, required=2)
    if args["env"] == "staging":
        return Rule("staging needs no approval", needs_approval=False)
    return None  # the declaration below: one of the agent's approvers


@agent.tool(needs_approval=True, policy=deploy_policy)
def deploy(service: str, env: str, ctx: ToolContext) -> str:
    """Deploy a service to an environment.

    Args:
        service: The service, e.g. web.
        env: staging or prod.
    """
    return f"deployed {service} to {env} (approved by {ctx.approved_by or 'policy'})"
