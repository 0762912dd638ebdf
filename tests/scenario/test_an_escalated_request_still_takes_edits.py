"""An escalation adds people who may decide; it does not change the call's policy, so the request
still takes an edit: Dave, escalated to after 30 minutes (a test clock, never a sleep), approves
with an edited argument over the API, it counts as 1 of 2, and carol's approval runs exactly the
edited call. A real `signoff serve` with tests/support/clock_agent.py."""

from __future__ import annotations

from pathlib import Path

from tests.support.clock_file import ClockFile
from tests.support.fake_model import FakeModelServer, text, tool_call
from tests.support.people import directory
from tests.support.signoff_process import SignoffProcess, wait_until


def test_the_person_escalated_to_approves_an_edited_call(tmp_path: Path, model: FakeModelServer) -> None:
    url = f"sqlite:///{tmp_path / 'signoff.db'}"
    directory(url)
    clock = ClockFile(tmp_path)
    env = {"SIGNOFF_DATABASE_URL": url, **model.settings(), **clock.settings(), "SIGNOFF_API_TOKEN_MAY_DECIDE": "true"}
    server = SignoffProcess(env, tmp_path).start()
    api = server.client()
    try:
        model.script(tool_call("restart_service", {"name": "payments", "reason": "stuck"}), text("Restarted."))
        thread_id = api.post("/api/threads", json={"message": "restart payments", "by": "U0BOB"}).json()["id"]
        [request] = wait_until(lambda: api.get("/api/requests", params={"status": "pending"}).json()["requests"])
        assert request["editable"] is True
        clock.advance(minutes=31)
        escalated = wait_until(
            lambda: [
                e for e in api.get(f"/api/threads/{thread_id}").json()["events"] if e["type"] == "request_escalated"
            ],
            message="the escalation",
        )
        assert "dave@example.com" in escalated[0]["to"]

        decision = f"/api/requests/{request['id']}/decision"
        edited = api.post(
            decision, json={"decision": "approve", "by": "dave@example.com", "arguments": {"name": "search"}}
        )
        assert edited.status_code == 200, edited.text
        assert edited.json()["progress"] == "1 of 2"
        assert api.post(decision, json={"decision": "approve", "by": "carol@example.com"}).status_code == 200
        thread = wait_until(lambda: (t := api.get(f"/api/threads/{thread_id}").json())["status"] == "done" and t)
        assert [e["result"] for e in thread["events"] if e["type"] == "tool_result"] == ["restarted search"]
        [edit] = [e for e in thread["events"] if e["type"] == "approval_edited"]
        assert (edit["previous_arguments"], edit["arguments"]) == ({"name": "payments"}, {"name": "search"})
    finally:
        api.close()
        server.stop()
