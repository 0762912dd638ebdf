"""Over the HTTP API an approver may change a gated call's arguments with its approval: edits that
do not fit the tool's schema are refused (422, naming the field) and nothing is decided; what runs
is exactly the edited call, under a new digest; the model is told what changed; the audit keeps
both versions. A tool that opted out refuses edits (409), and with two approvers an edit after the
first approval is refused. A question with closed options refuses another answer (422) and records
the option picked by number as the choice. A real `signoff serve` with tests/support/edit_agent.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from tests.scenario.test_cli_as_an_operator_uses_it import signoff_cli
from tests.support.edit_agent import EDIT_AGENT
from tests.support.fake_model import FakeModelServer, text, tool_call
from tests.support.signoff_process import SignoffProcess, wait_until

APPROVERS = "alice@example.com,carol@example.com"


def start(model: FakeModelServer, tmp_path: Path) -> SignoffProcess:
    settings = {
        "SIGNOFF_DATABASE_URL": f"sqlite:///{tmp_path / 'signoff.db'}",
        **model.settings(),
        **EDIT_AGENT,
        "SIGNOFF_APPROVERS": APPROVERS,
        "SIGNOFF_API_TOKEN_MAY_DECIDE": "true",
    }
    return SignoffProcess(settings, tmp_path).start()


def pending(api: httpx.Client, thread_id: str) -> dict[str, Any]:
    [request] = wait_until(
        lambda: [
            r
            for r in api.get("/api/requests", params={"status": "pending"}).json()["requests"]
            if r["thread_id"] == thread_id
        ],
        message="a pending request",
    )
    return dict(request)


def done(api: httpx.Client, thread_id: str) -> dict[str, Any]:
    return dict(wait_until(lambda: (t := api.get(f"/api/threads/{thread_id}").json())["status"] == "done" and t))


def test_an_edit_runs_exactly_what_was_approved(tmp_path: Path, model: FakeModelServer) -> None:
    server = start(model, tmp_path)
    api = server.client()
    try:
        model.script(
            tool_call("scale", {"service": "web", "replicas": 2, "reason": "traffic"}), text("Scaled as approved.")
        )
        thread_id = api.post("/api/threads", json={"message": "scale web", "by": "bob"}).json()["id"]
        request = pending(api, thread_id)
        assert request["editable"] is True and request["edit_schema"]["properties"]["replicas"]["type"] == "integer"
        decision = f"/api/requests/{request['id']}/decision"

        stranger = {"decision": "approve", "by": "mallory@example.com", "arguments": {"replicas": "many"}}
        assert api.post(decision, json=stranger).status_code == 403  # refused before the edit is read
        for bad, field in (
            ({"replicas": "many"}, "replicas"),
            ({"service": "mail"}, "service"),
            ({"colour": 1}, "colour"),
        ):
            refused = api.post(decision, json={"decision": "approve", "by": "alice@example.com", "arguments": bad})
            assert refused.status_code == 422, refused.text
            assert field in refused.json()["detail"] and "nothing was decided" in refused.json()["detail"]
        denied_edit = api.post(
            decision, json={"decision": "deny", "by": "alice@example.com", "arguments": {"replicas": 3}}
        )
        assert denied_edit.status_code == 422
        still = api.get(f"/api/requests/{request['id']}").json()
        assert (still["status"], still["arguments"], still["digest"]) == (
            "pending",
            request["arguments"],
            request["digest"],
        )

        approved = api.post(
            decision, json={"decision": "approve", "by": "alice@example.com", "arguments": {"replicas": 5}}
        )
        assert approved.status_code == 200, approved.text
        body = approved.json()
        assert body["status"] == "approved" and body["arguments"] == {"service": "web", "replicas": 5, "dry_run": False}
        assert body["digest"] != request["digest"]

        thread = done(api, thread_id)
        events = thread["events"]
        [edited] = [e for e in events if e["type"] == "approval_edited"]
        assert edited["previous_arguments"] == request["arguments"] and edited["arguments"]["replicas"] == 5
        assert edited["previous_digest"] == request["digest"] and edited["digest"] == body["digest"]
        assert edited["identity"]["subject"] == "alice@example.com"
        [decided] = [e for e in events if e["type"] == "approval_decided"]
        assert decided["digest"] == body["digest"]
        [result] = [e for e in events if e["type"] == "tool_result"]
        assert result["result"].startswith("scaled web to 5 (dry_run=False")
        context = model.requests[-1]["messages"][-1]["content"]
        assert "<approval_edited" in context and "replicas: 2 -> 5" in context

        audit = [json.loads(line) for line in api.get("/api/audit", params={"thread": thread_id}).text.splitlines()]
        assert [r["type"] for r in audit] == ["approval_requested", "approval_edited", "approval_decided"]
        assert audit[1]["outcome"] == "edited" and audit[1]["method"] == "service_token"
        assert audit[0]["event"]["arguments"]["replicas"] == 2 and audit[1]["event"]["arguments"]["replicas"] == 5
    finally:
        api.close()
        server.stop()


def test_edits_refused_where_they_do_not_apply_and_closed_questions(tmp_path: Path, model: FakeModelServer) -> None:
    server = start(model, tmp_path)
    api = server.client()
    try:
        model.script(tool_call("drop_table", {"name": "users", "reason": "cleanup"}), text("Not dropped."))
        thread_id = api.post("/api/threads", json={"message": "drop users", "by": "bob"}).json()["id"]
        request = pending(api, thread_id)
        assert request["editable"] is False and request["edit_schema"] is None
        decision = f"/api/requests/{request['id']}/decision"
        refused = api.post(
            decision, json={"decision": "approve", "by": "alice@example.com", "arguments": {"name": "x"}}
        )
        assert refused.status_code == 409 and "cannot be edited" in refused.json()["detail"]
        assert (
            api.post(decision, json={"decision": "deny", "by": "alice@example.com", "comment": "no"}).status_code == 200
        )
        done(api, thread_id)

        model.script(tool_call("rotate_keys", {"service": "web", "reason": "leak"}), text("Rotated."))
        thread_id = api.post("/api/threads", json={"message": "rotate", "by": "bob"}).json()["id"]
        request = pending(api, thread_id)
        decision = f"/api/requests/{request['id']}/decision"
        first = api.post(decision, json={"decision": "approve", "by": "alice@example.com"})
        assert first.status_code == 200 and first.json()["progress"] == "1 of 2"
        late = api.post(
            decision, json={"decision": "approve", "by": "carol@example.com", "arguments": {"service": "db"}}
        )
        assert late.status_code == 409 and "can no longer be edited" in late.json()["detail"]
        assert api.get(f"/api/requests/{request['id']}").json()["progress"] == "1 of 2"
        assert api.post(decision, json={"decision": "approve", "by": "carol@example.com"}).status_code == 200
        rotated = done(api, thread_id)
        assert [e["result"] for e in rotated["events"] if e["type"] == "tool_result"] == ["rotated the keys of web"]

        model.script(
            tool_call("ask_human", {"question": "Which region?", "options": ["eu", "us"], "allow_free_text": False}),
            text("Going with the choice."),
        )
        thread_id = api.post("/api/threads", json={"message": "pick", "by": "alice@example.com"}).json()["id"]
        question = pending(api, thread_id)
        assert question["options"] == ["eu", "us"] and question["allow_free_text"] is False
        answer = f"/api/requests/{question['id']}/answer"
        offside = api.post(answer, json={"answer": "asia", "by": "alice@example.com"})
        assert offside.status_code == 422 and "1) eu  2) us" in offside.json()["detail"]
        assert api.get(f"/api/requests/{question['id']}").json()["status"] == "pending"
        picked = api.post(answer, json={"answer": "2", "by": "alice@example.com"})
        assert picked.status_code == 200 and picked.json()["choice"] == "us"
        answered = done(api, thread_id)
        [event] = [e for e in answered["events"] if e["type"] == "question_answered"]
        assert (event["answer"], event["choice"]) == ("us", "us")
        assert 'choice="us"' in model.requests[-1]["messages"][-1]["content"]

        # At the console: `signoff approve --set NAME=VALUE`, checked the same way.
        model.script(tool_call("scale", {"service": "web", "replicas": 2, "reason": "load"}), text("Scaled."))
        thread_id = api.post("/api/threads", json={"message": "scale again", "by": "bob"}).json()["id"]
        request = pending(api, thread_id)
        env = {k: server.env[k] for k in ("SIGNOFF_DATABASE_URL", "SIGNOFF_AGENT", "PYTHONPATH", "SIGNOFF_APPROVERS")}
        approve = ("approve", request["id"], "--by", "alice@example.com")
        bad = signoff_cli(*approve, "--set", "replicas=twelve", env=env, cwd=tmp_path)
        assert bad.returncode == 1 and "whole number" in bad.stderr
        good = signoff_cli(*approve, "--set", "replicas=12", env=env, cwd=tmp_path)
        assert good.returncode == 0, good.stderr
        scaled = done(api, thread_id)
        assert [e["result"][:19] for e in scaled["events"] if e["type"] == "tool_result"] == ["scaled web to 12 (d"]
    finally:
        api.close()
        server.stop()
