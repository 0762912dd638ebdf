"""A test agent for edits before approving and questions with choices. Loaded by `signoff serve`
through `SIGNOFF_AGENT=tests.support.edit_agent:agent` (EDIT_AGENT), approvers from SIGNOFF_APPROVERS.

`scale(service, replicas, dry_run)` takes edits (a choice, a whole number, a boolean);
`drop_table(name)` opted out of them; `rotate_keys(service)` needs two approvers. Each returns what
it ran with, so a test reads exactly which arguments ran."""

from __future__ import annotations

import os
from typing import Literal

from agent import Agent, ToolContext
from tests.support.people import ROOT

EDIT_AGENT = {
    "SIGNOFF_AGENT": "tests.support.edit_agent:agent",
    "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
}

agent = Agent("scaler", description="Scales services.")


@agent.tool(needs_approval=True)
def scale(service: Literal["web", "search", "payments"], replicas: int, ctx: ToolContext, dry_run: bool = False) -> str:
    """Scale a service to a number of replicas.

    Args:
        service: The service to scale.
        replicas: How many replicas to run.
        dry_run: Only say what would happen.
    """
    return f"scaled {service} to {replicas} (dry_run={dry_run}, approved by {ctx.approved_by})"


@agent.tool(needs_approval=True, editable=False)
def drop_table(name: str) -> str:
    """Drop a database table.

    Args:
        name: The table.
    """
    return f"dropped {name}"


# Its own two approvers: two approvals from a single one (SIGNOFF_APPROVERS in some scenarios) stop serve.
@agent.tool(needs_approval=True, approvers=["alice@example.com", "carol@example.com"], required=2, self_approval=True)
def rotate_keys(service: str) -> str:
    """Rotate a service's keys.

    Args:
        service: The service.
    """
    return f"rotated the keys of {service}"
