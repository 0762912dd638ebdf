"""The agents the benchmarks run in `signoff serve` (SIGNOFF_AGENT=bench.agents:agent).

`act` is gated behind a human's approval and stamps the moment it starts (CLOCK_MONOTONIC, which
is system-wide on Linux, so the benchmark process can compare it with its own clock). `lookup` is
an ungated no-op, for counting agent steps. `slow_check` is an ungated plain `def` that blocks for
SLOW_TOOL_SECONDS, as a user's tool calling a slow service would.
"""

from __future__ import annotations

import os
import time

from agent import Agent

agent = Agent("bench", description="A benchmark agent.", approvers=[])


@agent.tool(needs_approval=True)
def act(n: int) -> str:
    """Do something risky. Needs a human's approval."""
    return f"started_at={time.monotonic():.9f}"


@agent.tool
def lookup(key: str) -> str:
    """Look a key up."""
    return f"{key}=ok"


def started_at(result: str) -> float:
    """The tool's start stamp from its result."""
    return float(result.split("started_at=", 1)[1])


SLOW_TOOL_SECONDS = float(os.environ.get("BENCH_SLOW_TOOL_SECONDS", "1.0"))


@agent.tool
def slow_check(name: str) -> str:
    """Check something slowly (a blocking call, as a plain `def` tool often makes)."""
    time.sleep(SLOW_TOOL_SECONDS)
    return f"{name}=ok"
