"""The model misbehaves: the bot neither loops forever nor lets bad arguments through."""

from __future__ import annotations

from tests.support.fake_model import FakeModelServer, http_error, raw_tool_call, text, tool_call
from tests.support.signoff_process import SignoffProcess, wait_until


def _events(api, thread_id: str) -> list[dict]:  # type: ignore[no-untyped-def]
    return api.get(f"/api/threads/{thread_id}").json()["events"]


def test_three_consecutive_model_failures_ask_a_human(signoff: SignoffProcess, model: FakeModelServer) -> None:
    # Each failed step is itself retried (4 attempts) before it becomes an error event.
    model.default = lambda _body: http_error(500, "upstream exploded")
    with signoff.client() as api:
        thread_id = api.post("/api/threads", json={"message": "status of search?", "by": "carol"}).json()["id"]
        wait_until(
            lambda: api.get(f"/api/threads/{thread_id}").json()["status"] == "waiting",
            timeout=60,
            message="the thread to ask a human",
        )
        events = _events(api, thread_id)
        errors = [e for e in events if e["type"] == "error"]
        assert [e["consecutive"] for e in errors] == [1, 2, 3]
        assert all(e["source"] == "model" and "500" in e["message"] for e in errors)
        question = events[-1]
        assert question["type"] == "question_asked"
        assert "3 errors in a row" in question["question"]
        assert question["answerers"] == ["carol", "alice@example.com", "U0ALICE"]  # the participant, the approvers
        calls_when_parked = len(model.requests)
        assert calls_when_parked == 3 * 4

        # The human answers; the model (working again) is called once more and finishes.
        model.default = None
        model.script(text("search is running version 2.0.1."))
        answered = api.post(
            f"/api/requests/{question['request_id']}/answer", json={"answer": "try again", "by": "carol"}
        )
        assert answered.status_code == 200, answered.text
        wait_until(lambda: api.get(f"/api/threads/{thread_id}").json()["status"] == "done", message="done")
        assert len(model.requests) == calls_when_parked + 1
        assert "try again" in model.requests[-1]["messages"][1]["content"]


def test_invalid_tool_arguments_never_reach_the_tool(signoff: SignoffProcess, model: FakeModelServer) -> None:
    model.script(
        tool_call("service_status", {"name": 42, "verbose": True}),
        raw_tool_call("service_status", '{"name": "search"'),
        tool_call("service_status", {"name": "search"}),
        tool_call("drop_database", {}),
        text("search is fine."),
    )
    with signoff.client() as api:
        thread_id = api.post("/api/threads", json={"message": "how is search?"}).json()["id"]
        wait_until(lambda: api.get(f"/api/threads/{thread_id}").json()["status"] == "done", message="done")
        events = _events(api, thread_id)

    types = [e["type"] for e in events]
    assert types == ["human_message", "error", "error", "tool_call", "tool_result", "error", "agent_reply"]
    bad_types, bad_json, unknown = events[1], events[2], events[5]
    assert "name: Input should be a valid string" in bad_types["message"]
    assert "verbose: Extra inputs are not permitted" in bad_types["message"]
    assert "not valid JSON" in bad_json["message"]
    assert [bad_types["consecutive"], bad_json["consecutive"], unknown["consecutive"]] == [1, 2, 1]
    assert "unknown tool 'drop_database'" in unknown["message"]
    # The model saw each compact error in its next request.
    assert "Extra inputs are not permitted" in model.requests[1]["messages"][1]["content"]
    assert "not valid JSON" in model.requests[2]["messages"][1]["content"]
    assert all(len(e["message"]) <= 400 for e in events if e["type"] == "error")
    # Only the valid call ran.
    assert events[3]["arguments"] == {"name": "search"}
    assert '"version":"2.0.1"' in events[4]["result"]
