"""A test agent whose requests go to several places at once (agent/places.py): the thread, the
approvers' channel C0APPROVERS, each approver's Slack DM and their mail; the emailed approvers who
did not answer are told who decided. `deploy_prod` needs two approvers and names its own places.
Loaded by `signoff serve` through `SIGNOFF_AGENT=tests.support.places_agent:agent`; the directory
must know alice and bob (tests/support/people.py)."""

from __future__ import annotations

from agent import Agent

APPROVERS_CHANNEL = "C0APPROVERS"

agent = Agent(
    "ops",
    description="Restarts and deploys services.",
    approvers=["alice", "bob"],
    deliver_to=[f"slack:{APPROVERS_CHANNEL}", "slack:dm", "email"],
    decided_mail=True,
)


@agent.tool(needs_approval=True)
def restart(service: str) -> str:
    """Restart a service.

    Args:
        service: The service, e.g. web.
    """
    return f"restarted {service}"


@agent.tool(needs_approval=True, required=2, deliver_to=["slack:dm", "email"])
def deploy_prod(service: str) -> str:
    """Deploy a service to prod.

    Args:
        service: The service, e.g. web.
    """
    return f"deployed {service} to prod"
