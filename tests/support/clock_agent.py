"""A test agent on a clock: its requests remind after 10 minutes and expire after an hour; a
restart needs two SREs and escalates after 30 minutes to Dave (on Slack and by email), who may then
approve it. Loaded by `signoff serve` through `SIGNOFF_AGENT=tests.support.clock_agent:agent`; the
directory must know alice and carol (tests/support/people.py). Scenarios move the clock with a test
clock file (tests/support/clock_file.py), never by sleeping.
"""

from __future__ import annotations

from agent import Agent

SRES = ["alice", "carol"]  # directory names: each person's Slack ids and addresses count
DAVE = ["U0DAVE", "dave@example.com"]

agent = Agent(
    "oncall",
    description="Restarts services; asks when unsure.",
    approvers=SRES,
    remind_after="10m",
    expire_after="1h",
)


@agent.tool(needs_approval=True, required=2, escalate_after="30m", escalate_to=DAVE)
def restart_service(name: str) -> str:
    """Restart a service.

    Args:
        name: The service, e.g. payments.
    """
    return f"restarted {name}"
