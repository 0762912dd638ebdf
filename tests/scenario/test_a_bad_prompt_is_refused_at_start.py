"""A prompt file with a placeholder that does not exist: `signoff serve` does not start and
`signoff doctor` fails, both naming the file, the line and the placeholder. Braces that are text
(a JSON example) start fine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.fake_model import FakeModelServer, text
from tests.support.signoff_process import SignoffProcess, wait_until

AGENT_MODULE = """\
from pathlib import Path
from agent import Agent

agent = Agent("ops", prompt=Path(__file__).with_name("prompt.txt"))


@agent.tool
def service_status(name: str) -> dict:
    \"\"\"Show a service's state.\"\"\"
    return {"name": name, "state": "running"}
"""
GOOD_PROMPT = 'You are {agent_name}.\nAnswer as {"service": "...", "state": {"ok": true}}.\n{tools}\n'
BAD_PROMPT = 'You are {agent_name}.\nAnswer as {"service": "..."}.\nYou work for {agent}.\n{tools}\n'


def write_agent(where: Path, prompt: str) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    (where / "braces_agent.py").write_text(AGENT_MODULE)
    (where / "prompt.txt").write_text(prompt)
    return where / "prompt.txt"


def env_for(tmp_path: Path, agent_dir: Path, model: FakeModelServer) -> dict[str, str]:
    return {
        "SIGNOFF_DATABASE_URL": f"sqlite:///{tmp_path / 'signoff.db'}",
        "SIGNOFF_MODEL": "openai/fake",
        "SIGNOFF_MODEL_API_BASE": model.url,
        "SIGNOFF_MODEL_API_KEY": "x",
        "SIGNOFF_AGENT": "braces_agent:agent",
        "PYTHONPATH": os.pathsep.join([str(agent_dir), os.environ.get("PYTHONPATH", "")]),
    }


def run_cli(command: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    process = SignoffProcess(env, cwd)  # the same environment `signoff serve` gets in every test
    process.env.pop("SIGNOFF_API_TOKEN", None)
    return subprocess.run(
        [sys.executable, "-m", "bot", command],
        env=process.env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_serve_and_doctor_refuse_an_unknown_placeholder(tmp_path: Path, model: FakeModelServer) -> None:
    prompt = write_agent(tmp_path / "user_agents", BAD_PROMPT)
    env = env_for(tmp_path, tmp_path / "user_agents", model)
    where = f"prompt {prompt}, line 3: unknown placeholder {{agent}}"

    serve = run_cli("serve", env, tmp_path)
    assert serve.returncode == 1, serve.stderr
    assert where in serve.stderr
    assert "Traceback" not in serve.stderr

    doctor = run_cli("doctor", env, tmp_path)
    assert doctor.returncode == 1
    assert (
        "FAIL  agent\n      fix: SIGNOFF_AGENT=braces_agent:agent: agent ops is defined with 1 problem:"
        in doctor.stdout
    )
    assert f"- {where}" in doctor.stdout
    assert len(model.requests) == 1, "doctor still checked the model: one call"


def test_a_prompt_with_a_json_example_serves_and_reaches_the_model_as_written(
    tmp_path: Path, model: FakeModelServer
) -> None:
    write_agent(tmp_path / "user_agents", GOOD_PROMPT)
    model.script(text("search is running."))
    process = SignoffProcess(env_for(tmp_path, tmp_path / "user_agents", model), tmp_path).start()
    try:
        with process.client() as api:
            thread_id = api.post("/api/threads", json={"message": "how is search?"}).json()["id"]
            wait_until(lambda: api.get(f"/api/threads/{thread_id}").json()["status"] == "done", message="done")
    finally:
        process.stop()
    system = model.requests[0]["messages"][0]["content"]
    assert system.splitlines()[:2] == ["You are ops.", 'Answer as {"service": "...", "state": {"ok": true}}.']
    assert "- service_status: Show a service's state." in system
