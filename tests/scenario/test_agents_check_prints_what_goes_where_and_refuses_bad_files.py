"""`signoff agents list|check` load every agent of the deployment file and print what goes where;
a file with a route claimed by two agents, an unknown agent or a bad cron makes `agents check`,
`doctor` and `serve` refuse, naming it. The CLI as an operator runs it."""

from __future__ import annotations

from pathlib import Path

from tests.scenario.test_cli_as_an_operator_uses_it import signoff_cli
from tests.scenario.test_serve_refuses_what_it_cannot_serve_on import signoff
from tests.support.deployments import deployment_env
from tests.support.fake_model import FakeModelServer

EXTRA = """
[hooks.github]
agent = "ops"
secret = "0123456789abcdef0123"
form = "github"
template = "{event}"

[schedules.nightly]
agent = "billing"
cron = "0 3 * * *"
message = "Send the reminders."
ask = "email:billing-team@example.com"
"""


def test_check_prints_every_agent_route_hook_and_schedule(tmp_path: Path) -> None:
    env = {"SIGNOFF_APPROVERS": "alice@example.com", **deployment_env(tmp_path, EXTRA)}
    listed = signoff_cli("agents", "list", env=env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[0].startswith("agent ops (default): bot.example_agent:agent, 4 tools")
    assert "agent billing: tests.support.billing_agent:agent, 2 tools, approval needed for refund" in listed.stdout

    checked = signoff_cli("agents", "check", env=env, cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    for line in (
        "route Slack channel C0BILL -> billing",
        "route email +money -> billing",
        "route keyword billing (or /billing) -> billing",
        "route anything else -> ops",
        "hook POST /hooks/github (github signature) -> ops",
        "schedule nightly '0 3 * * *' UTC (catch-up skip) -> billing, asks on email:billing-team@example.com",
        "ok",
    ):
        assert line in checked.stdout.splitlines(), checked.stdout


def test_a_bad_file_is_refused_by_check_doctor_and_serve(tmp_path: Path, model: FakeModelServer) -> None:
    bad = (
        EXTRA.replace('cron = "0 3 * * *"', 'cron = "61 * * * *"')
        + '\n[agents.ops2]\nagent = "tests.support.policy_agent:agent"\nslack_channels = ["C0BILL"]\n'
    )
    env = {
        "SIGNOFF_APPROVERS": "alice@example.com",
        "SIGNOFF_DATABASE_URL": f"sqlite:///{tmp_path / 'signoff.db'}",
        **model.settings(),
        **deployment_env(tmp_path, bad),
    }
    checked = signoff_cli("agents", "check", env=env, cwd=tmp_path)
    assert checked.returncode == 1
    assert "Slack channel 'C0BILL' is claimed by two agents: billing and ops2" in checked.stderr
    assert "[schedules.nightly] cron = '61 * * * *' is not a cron expression" in checked.stderr

    doctor = signoff_cli("doctor", env=env, cwd=tmp_path)
    assert doctor.returncode == 1 and "claimed by two agents" in doctor.stdout

    serve = signoff(tmp_path, "serve", **env)
    assert serve.returncode != 0 and "claimed by two agents: billing and ops2" in serve.stderr


def test_doctor_names_the_hooks_schedules_and_an_mcp_server_that_does_not_start(tmp_path: Path) -> None:
    dead = '\n[agents.ops.mcp.ghost]\ncommand = ["/nonexistent/mcp-server"]\napprovers = ["alice@example.com"]\n'
    env = {
        "SIGNOFF_APPROVERS": "alice@example.com",
        "SIGNOFF_DATABASE_URL": f"sqlite:///{tmp_path / 'signoff.db'}",
        **deployment_env(tmp_path, EXTRA + dead),
    }
    doctor = signoff_cli("doctor", env=env, cwd=tmp_path)
    lines = doctor.stdout.splitlines()
    assert doctor.returncode == 1
    assert "ok    hook POST /hooks/github (github signature) -> ops" in lines, doctor.stdout
    assert any(line.startswith("ok    schedule nightly '0 3 * * *' UTC") for line in lines), doctor.stdout
    [failed] = [line for line in lines if line.startswith("FAIL  [agents.ops.mcp.ghost]: ")]
    assert "/nonexistent/mcp-server" in failed, doctor.stdout  # why it did not start
