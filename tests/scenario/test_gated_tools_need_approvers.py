"""#22.4: a gated tool with nobody to approve it is a start-up error in `serve` and `doctor`, naming
the tool and the fix (no more "anyone in this conversation", the requester included)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent import Agent
from bot.approver_check import tools_without_approvers
from tests.scenario.test_doctor_checks_the_channels import signoff_cli
from tests.support.signoff_process import SignoffProcess


def test_serve_refuses_to_start_when_nobody_may_approve_a_gated_tool(sqlite_url: str, tmp_path: Path) -> None:
    process = SignoffProcess({"SIGNOFF_DATABASE_URL": sqlite_url}, tmp_path)
    process.env.pop("SIGNOFF_APPROVERS", None)
    with pytest.raises(RuntimeError, match="exited with 1") as refused:
        process.start(timeout=60)
    message = str(refused.value)
    assert "nobody may approve the gated tool(s) restart_service, deploy of agent signoff-ops" in message
    assert "set SIGNOFF_APPROVERS" in message and "approvers=[...]" in message

    process.env["SIGNOFF_APPROVERS"] = "U0ALICE"
    try:
        process.start(timeout=60)  # named approvers: it starts
    finally:
        process.stop()


def test_doctor_fails_naming_the_tools_and_the_fix(sqlite_url: str, tmp_path: Path) -> None:
    result = signoff_cli("doctor", env={"SIGNOFF_DATABASE_URL": sqlite_url, "SIGNOFF_APPROVERS": ""}, cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    at = lines.index(
        "FAIL  nobody may approve the gated tool(s) restart_service, deploy of agent signoff-ops: anyone in a "
        "conversation, the person who asked included, could approve them"
    )
    assert lines[at + 1].startswith("      fix: Name approvers: set SIGNOFF_APPROVERS")

    named = signoff_cli(
        "doctor", env={"SIGNOFF_DATABASE_URL": sqlite_url, "SIGNOFF_APPROVERS": "a@b.example"}, cwd=tmp_path
    )
    assert "nobody may approve" not in named.stdout


def test_tool_agent_or_default_approvers_each_suffice() -> None:
    def agent(approvers: list[str], tool_approvers: list[str]) -> Agent:
        built = Agent("ops", approvers=approvers)

        @built.tool(needs_approval=True, approvers=tool_approvers)
        def deploy(version: str) -> str:
            """Deploy."""
            return version

        @built.tool
        def status() -> str:
            """Ungated: needs nobody."""
            return "ok"

        return built

    assert tools_without_approvers(agent([], []), []) == ["deploy"]
    assert tools_without_approvers(agent([], ["U1"]), []) == []
    assert tools_without_approvers(agent(["U1"], []), []) == []
    assert tools_without_approvers(agent([], []), ["alice@example.com"]) == []
