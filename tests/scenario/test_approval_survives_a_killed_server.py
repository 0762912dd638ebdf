"""Launch -> the model asks to restart a service -> the server is SIGKILLed while waiting ->
restarted -> a human decides through the API -> the thread ends as the human said."""

from __future__ import annotations

import json

from tests.support.effects import service_actions
from tests.support.fake_model import FakeModelServer, text, tool_call
from tests.support.signoff_process import SignoffProcess, wait_until


def _thread(api, thread_id: str) -> dict:  # type: ignore[no-untyped-def]
    return api.get(f"/api/threads/{thread_id}").json()


def test_approved_restart_runs_once_after_a_sigkill(
    signoff: SignoffProcess, model: FakeModelServer, sqlite_url: str
) -> None:
    model.script(
        tool_call("restart_service", {"name": "payments", "reason": "payments worker is stuck"}),
        text("Restarted payments; it is running again."),
    )
    with signoff.client() as api:
        created = api.post("/api/threads", json={"message": "restart the payments worker", "by": "bob@example.com"})
        assert created.status_code == 201, created.text
        thread_id = created.json()["id"]

        wait_until(lambda: _thread(api, thread_id)["status"] == "waiting", message="thread waiting")
        pending = api.get("/api/requests", params={"status": "pending"}).json()["requests"]
        assert len(pending) == 1
        request = pending[0]
        assert request["tool"] == "restart_service"
        assert request["arguments"] == {"name": "payments"}
        assert request["reason"] == "payments worker is stuck"
        assert request["requested_by"] == "bob@example.com"
        waiting = api.get("/api/threads", params={"status": "waiting"}).json()["threads"]
        assert [t["id"] for t in waiting] == [thread_id]

    # What the model was sent: our prompt, the rendered thread, and the tools with their schemas.
    first = model.requests[0]
    assert first["messages"][0]["role"] == "system"
    assert "restart the payments worker" in first["messages"][1]["content"]
    tools = {t["function"]["name"]: t["function"] for t in first["tools"]}
    assert set(tools) == {"list_services", "service_status", "restart_service", "deploy", "ask_human"}
    assert tools["restart_service"]["parameters"]["required"] == ["name", "reason"]

    signoff.kill()
    assert service_actions(sqlite_url) == []
    signoff.start()

    with signoff.client() as api:
        decided = api.post(
            f"/api/requests/{request['id']}/decision", json={"decision": "approve", "by": "alice@example.com"}
        )
        assert decided.status_code == 200, decided.text
        assert decided.json()["status"] == "approved"
        thread = wait_until(lambda: (t := _thread(api, thread_id))["status"] == "done" and t, message="thread done")

    types = [e["type"] for e in thread["events"]]
    assert types == [
        "human_message",
        "approval_requested",
        "approval_decided",
        "tool_started",
        "tool_result",
        "agent_reply",
    ]
    assert thread["events"][-1]["text"] == "Restarted payments; it is running again."
    actions = service_actions(sqlite_url)
    assert len(actions) == 1
    assert (actions[0].service, actions[0].action, actions[0].approved_by) == (
        "payments",
        "restart",
        "alice@example.com",
    )
    # The model saw the tool's result before it answered.
    assert "restarted (restart #1)" in model.requests[-1]["messages"][1]["content"]
    assert len(model.requests) == 2


def test_denial_comment_reaches_the_model_and_nothing_runs(
    signoff: SignoffProcess, model: FakeModelServer, sqlite_url: str
) -> None:
    model.script(
        tool_call("deploy", {"service": "web", "version": "4.0.0", "reason": "new release"}),
        text("Understood, I will not deploy web 4.0.0 during the freeze."),
    )
    with signoff.client() as api:
        thread_id = api.post("/api/threads", json={"message": "deploy web 4.0.0"}).json()["id"]
        wait_until(lambda: _thread(api, thread_id)["status"] == "waiting", message="thread waiting")
        request = api.get("/api/requests", params={"status": "pending"}).json()["requests"][0]

        signoff.kill()
        signoff.start()
        with signoff.client() as api2:
            decided = api2.post(
                f"/api/requests/{request['id']}/decision",
                json={"decision": "deny", "by": "U0ALICE", "comment": "code freeze until Monday"},
            )
            assert decided.status_code == 200, decided.text
            thread = wait_until(lambda: (t := _thread(api2, thread_id))["status"] == "done" and t, message="done")

    denial = next(e for e in thread["events"] if e["type"] == "approval_decided")
    assert denial["approved"] is False and denial["comment"] == "code freeze until Monday"
    assert "code freeze until Monday" in model.requests[-1]["messages"][1]["content"]
    assert "approval_denied" in model.requests[-1]["messages"][1]["content"]
    assert service_actions(sqlite_url) == []
    assert json.dumps(thread).count("tool_result") == 0
