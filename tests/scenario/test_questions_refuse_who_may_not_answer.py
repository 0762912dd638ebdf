"""Issue 10.5 over the HTTP API and the CLI: a question is answered only by the thread's participants
and the agent's approvers (`SIGNOFF_APPROVERS` here). Anyone else gets a 403 from
`POST /api/requests/{id}/answer` and an error from `signoff answer --by`; the question stays
pending until an allowed person answers."""

from __future__ import annotations

from pathlib import Path

from tests.scenario.test_cli_as_an_operator_uses_it import signoff_cli
from tests.support.fake_model import FakeModelServer, text, tool_call
from tests.support.signoff_process import SignoffProcess, wait_until


def test_only_participants_and_approvers_answer_over_the_api_and_the_cli(
    signoff: SignoffProcess, model: FakeModelServer, sqlite_url: str, tmp_path: Path
) -> None:
    model.script(tool_call("ask_human", {"question": "Which region?", "options": ["eu", "us"]}), text("Restarted eu."))
    env = {"SIGNOFF_DATABASE_URL": sqlite_url, "SIGNOFF_APPROVERS": "alice@example.com,U0ALICE"}
    with signoff.client() as api:
        thread_id = api.post("/api/threads", json={"message": "restart the worker", "by": "bob"}).json()["id"]
        wait_until(lambda: api.get(f"/api/threads/{thread_id}").json()["status"] == "waiting", message="waiting")
        [request] = api.get("/api/requests", params={"status": "pending"}).json()["requests"]
        assert request["allowed"] == ["bob", "alice@example.com", "U0ALICE"]

        refused = api.post(f"/api/requests/{request['id']}/answer", json={"answer": "us", "by": "mallory"})
        assert refused.status_code == 403 and "mallory may not answer" in refused.json()["detail"]
        cli = signoff_cli("answer", request["id"], "us", "--by", "mallory@evil.example", env=env, cwd=tmp_path)
        assert cli.returncode != 0 and "may not answer" in cli.stderr
        assert api.get(f"/api/requests/{request['id']}").json()["status"] == "pending"

        by_approver = signoff_cli("answer", request["id"], "eu", "--by", "ALICE@example.com", env=env, cwd=tmp_path)
        assert by_approver.returncode == 0, by_approver.stderr
        done = wait_until(
            lambda: (t := api.get(f"/api/threads/{thread_id}").json())["status"] == "done" and t, message="done"
        )
    answered = [e for e in done["events"] if e["type"] == "question_answered"]
    assert [(e["answer"], e["by"]) for e in answered] == [("eu", "ALICE@example.com")]
