"""Deployment files (SIGNOFF_CONFIG) for the multi-agent scenarios: ops (the bundled example agent)
and billing (tests/support/billing_agent.py), with routes on every channel, plus what a test adds."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

TWO_AGENTS = """
default = "ops"

[agents.ops]
agent = "bot.example_agent:agent"
keywords = ["ops"]

[agents.billing]
agent = "tests.support.billing_agent:agent"
slack_channels = ["C0BILL"]
emails = ["+money"]
keywords = ["billing"]
"""


def deployment_env(tmp_path: Path, extra: str = "") -> dict[str, str]:
    """Settings for a `signoff serve` that runs the two agents (and `extra` TOML)."""
    path = tmp_path / "signoff.toml"
    path.write_text(TWO_AGENTS + extra)
    return {
        "SIGNOFF_CONFIG": str(path),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }


def tools_seen(request: dict[str, Any]) -> set[str]:
    """The tool names a model request offered: which agent was speaking."""
    return {tool["function"]["name"] for tool in request.get("tools") or []}
