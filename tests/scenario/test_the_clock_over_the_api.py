"""The clock over the HTTP API, with a test clock moved forward (never a sleep). An escalation adds
people who may decide; it does not change the call's policy, so the request still takes an edit:
Dave, escalated to after 30 minutes, approves with an edited argument, it counts as 1 of 2, and
carol's approval runs exactly the edited call. A request nobody answers expires: it is listed with
`?status=expired`, shows its clock, refuses a late approval (409), and the model tells the
requester. A real `signoff serve` with tests/support/clock_agent.py."""

from __future__ import annotations

from pathlib import Path

from tests.support.clock_file import ClockFile
from tests.support.fake_model import FakeModelServer, text, tool_call
from tests.support.people import directory
from tests.support.signoff_process import SignoffProcess, wait_until


def start(tmp_path: Path, model: FakeModelServer) -> tuple[SignoffProcess, ClockFile]:
    url = f"sqlite:///{tmp_path / 'signoff.db'}"
    directory(url)
    clock = ClockFile(tmp_path)
    env = {"SIGNOFF_DATABASE_URL": url, **model.settings(), **clock.settings(), "SIGNOFF_API_TOKEN_MAY_DECIDE": "true"}
    return SignoffProcess(env, tmp_path).start(), clock


def test_the_person_escalated_to_approves_an_edited_call(tmp_path: Path, model: FakeModelServer) -> None:
    server, clock = start(tmp_path, model)
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


def test_an_expired_request_is_listed_as_such_and_refuses_a_late_approval(
    tmp_path: Path, model: FakeModelServer
) -> None:
    server, clock = start(tmp_path, model)
    api = server.client()
    try:
        model.script(
            tool_call("restart_service", {"name": "payments", "reason": "stuck"}),
            text("Nobody approved the restart in time; payments was not restarted."),
        )
        thread_id = api.post("/api/threads", json={"message": "restart payments", "by": "U0BOB"}).json()["id"]
        [request] = wait_until(lambda: api.get("/api/requests", params={"status": "pending"}).json()["requests"])
        clock.advance(minutes=61)
        thread = wait_until(lambda: (t := api.get(f"/api/threads/{thread_id}").json())["status"] == "done" and t)
        assert thread["events"][-1]["text"] == "Nobody approved the restart in time; payments was not restarted."
        assert "<request_expired " in model.requests[-1]["messages"][-1]["content"]

        listed = api.get("/api/requests", params={"status": "expired"})
        assert listed.status_code == 200, listed.text
        assert [r["id"] for r in listed.json()["requests"]] == [request["id"]]
        shown = api.get(f"/api/requests/{request['id']}").json()
        assert shown["status"] == "expired"
        assert [(t["kind"], t["outcome"]) for t in shown["clock"]] == [
            ("remind", "superseded"),
            ("escalate", "superseded"),
            ("expire", "fired"),
        ]
        late = api.post(f"/api/requests/{request['id']}/decision", json={"decision": "approve", "by": "U0ALICE"})
        assert late.status_code == 409 and "expired" in late.json()["detail"]
        assert not [e for e in api.get(f"/api/threads/{thread_id}").json()["events"] if e["type"] == "tool_result"]
    finally:
        api.close()
        server.stop()
