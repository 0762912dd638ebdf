"""Over the HTTP API a decision is made as the person whose token was used: `by` cannot name
someone else, revoked and expired tokens get 401, the service token may not decide unless an
operator enabled it (then it is recorded as such), the person who asked may not approve, and prod
needs two distinct approvers (progress "1 of 2", the same person twice refused, the tool run once);
staging runs with no approval, its rule recorded. A real `signoff serve` with tests/support/policy_agent.py."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import httpx

from tests.scenario.test_cli_as_an_operator_uses_it import signoff_cli
from tests.support.fake_model import FakeModelServer, text, tool_call
from tests.support.people import POLICY_AGENT, directory
from tests.support.signoff_process import SignoffProcess, wait_until


def start(model: FakeModelServer, tmp_path: Path, **env: str) -> SignoffProcess:
    process = SignoffProcess(
        {"SIGNOFF_DATABASE_URL": f"sqlite:///{tmp_path / 'signoff.db'}", **model.settings(), **POLICY_AGENT, **env},
        tmp_path,
    )
    return process.start()


def pending(api: httpx.Client) -> dict[str, Any]:
    [request] = wait_until(lambda: api.get("/api/requests", params={"status": "pending"}).json()["requests"])
    return dict(request)


def test_decisions_over_the_api_follow_the_token_and_the_policy(tmp_path: Path, model: FakeModelServer) -> None:
    people = directory(f"sqlite:///{tmp_path / 'signoff.db'}")
    server = start(model, tmp_path, SIGNOFF_API_TOKEN_MAY_DECIDE="false")
    service = server.client()
    bob, alice, carol = (server.client(people.tokens[n]) for n in ("bob", "alice", "carol"))
    try:
        model.script(tool_call("deploy", {"service": "web", "env": "prod", "reason": "release 1.2"}), text("Deployed."))
        launched = bob.post("/api/threads", json={"message": "deploy web to prod"})
        assert launched.status_code == 201, launched.text
        thread_id = launched.json()["id"]
        assert bob.get(f"/api/threads/{thread_id}").json()["requested_by"] == "bob"
        assert bob.post("/api/threads", json={"message": "x", "by": "alice"}).status_code == 403

        request = pending(service)
        assert (request["required"], request["rule"], request["progress"]) == (2, "prod needs two SREs", "0 of 2")
        assert request["no_self_approval"] is True
        decision = f"/api/requests/{request['id']}/decision"

        refused = service.post(decision, json={"decision": "approve", "by": "alice"})
        assert refused.status_code == 403 and "SIGNOFF_API_TOKEN_MAY_DECIDE" in refused.json()["detail"]
        own = bob.post(decision, json={"decision": "approve"})
        assert own.status_code == 403 and "may not approve their own request" in own.json()["detail"]
        posing = alice.post(decision, json={"decision": "approve", "by": "carol"})
        assert posing.status_code == 403 and "belongs to alice" in posing.json()["detail"]
        for token, word in ((people.revoked, "revoked"), (people.expired, "expired")):
            stale = server.client(token).post(decision, json={"decision": "approve"})
            assert stale.status_code == 401 and word in stale.json()["detail"]
        wrong = server.client("sgf_" + "x" * 43).get("/api/threads")
        assert wrong.status_code == 401
        assert service.get(f"/api/requests/{request['id']}").json()["progress"] == "0 of 2"

        first = alice.post(decision, json={"decision": "approve", "by": "U0ALICE"})
        assert first.status_code == 200, first.text
        assert first.json()["progress"] == "1 of 2" and first.json()["status"] == "pending"
        assert "approval 1 of 2 recorded" in first.json()["message"]
        twice = alice.post(decision, json={"decision": "approve"})
        assert twice.status_code == 409 and "alice already approved" in twice.json()["detail"]
        second = carol.post(decision, json={"decision": "approve", "comment": "go"})
        assert second.status_code == 200 and second.json()["status"] == "approved"

        thread = wait_until(lambda: (t := service.get(f"/api/threads/{thread_id}").json())["status"] == "done" and t)
        events = thread["events"]
        assert [e["type"] for e in events].count("tool_result") == 1
        [progress] = [e for e in events if e["type"] == "approval_progress"]
        assert progress["identity"]["person"] == "alice" and progress["identity"]["method"] == "personal_token"
        [decided] = [e for e in events if e["type"] == "approval_decided"]
        assert decided["by"] == "carol" and decided["digest"] == request["digest"]
        identity = decided["identity"]
        assert (identity["person"], identity["method"], identity["channel"]) == ("carol", "personal_token", "api")
        assert identity["detail"]["token_id"].startswith("t_") and identity["at"]
        assert [a["person"] for a in decided["approvals"]] == ["alice", "carol"]

        check_audit(server, service, thread_id, tmp_path)

        model.script(tool_call("deploy", {"service": "web", "env": "staging", "reason": "try"}), text("Staged."))
        staged = bob.post("/api/threads", json={"message": "deploy web to staging"}).json()["id"]
        done = wait_until(lambda: (t := service.get(f"/api/threads/{staged}").json())["status"] == "done" and t)
        [call] = [e for e in done["events"] if e["type"] == "tool_call"]
        assert call["rule"] == "staging needs no approval"
        assert not [e for e in done["events"] if e["type"] == "approval_requested"]
        [exempt] = [json.loads(line) for line in service.get("/api/audit", params={"thread": staged}).text.splitlines()]
        assert (exempt["type"], exempt["rule"], exempt["tool"]) == ("tool_call", "staging needs no approval", "deploy")
    finally:
        for client in (service, bob, alice, carol):
            client.close()
        server.stop()


def check_audit(server: SignoffProcess, api: httpx.Client, thread_id: str, tmp_path: Path) -> None:
    """The audit of the prod thread: the request, alice's counted approval, carol's decision, with proofs."""
    response = api.get("/api/audit", params={"thread": thread_id})
    assert response.status_code == 200 and response.headers["content-type"] == "application/x-ndjson"
    rows = [json.loads(line) for line in response.text.splitlines()]
    assert [r["type"] for r in rows] == ["approval_requested", "approval_progress", "approval_decided"]
    assert {r["tool"] for r in rows} == {"deploy"} and {r["requested_by"] for r in rows} == {"bob"}
    assert rows[0]["rule"] == "prod needs two SREs"
    assert [(r["person"], r["method"], r["outcome"]) for r in rows[1:]] == [
        ("alice", "personal_token", "1 of 2"),
        ("carol", "personal_token", "approved"),
    ]
    mine = api.get("/api/audit", params={"person": "alice", "thread": thread_id}).text.splitlines()
    assert [json.loads(line)["type"] for line in mine] == ["approval_progress"]
    assert api.get("/api/audit", params={"tool": "restart_service"}).text == ""
    table = list(csv.DictReader(io.StringIO(api.get("/api/audit", params={"format": "csv", "since": "1h"}).text)))
    assert [r["type"] for r in table] == [r["type"] for r in rows] and table[2]["method"] == "personal_token"
    assert api.get("/api/audit", params={"since": "last tuesday"}).status_code == 422
    unknown = api.get("/api/audit", params={"person": "zed"})
    assert unknown.status_code == 422 and "nobody by that name" in unknown.json()["detail"]
    env = {"SIGNOFF_DATABASE_URL": server.env["SIGNOFF_DATABASE_URL"]}
    cli = signoff_cli("audit", "--thread", thread_id, "--format", "csv", env=env, cwd=tmp_path)
    assert cli.returncode == 0, cli.stderr
    assert [r["person"] for r in csv.DictReader(io.StringIO(cli.stdout))] == ["", "alice", "carol"]
    bad = signoff_cli("audit", "--person", "zed", env=env, cwd=tmp_path)
    assert bad.returncode == 1 and "nobody by that name" in bad.stderr


def test_the_service_token_decides_only_where_enabled_and_says_so(tmp_path: Path, model: FakeModelServer) -> None:
    directory(f"sqlite:///{tmp_path / 'signoff.db'}")
    server = start(model, tmp_path, SIGNOFF_API_TOKEN_MAY_DECIDE="true")
    service = server.client()
    try:
        model.script(tool_call("deploy", {"service": "api", "env": "qa", "reason": "check"}), text("Deployed."))
        thread_id = service.post("/api/threads", json={"message": "deploy api to qa", "by": "bob"}).json()["id"]
        request = pending(service)
        decision = f"/api/requests/{request['id']}/decision"
        assert service.post(decision, json={"decision": "approve"}).status_code == 422  # by is needed
        assert service.post(decision, json={"decision": "approve", "by": "U0BOB"}).status_code == 403  # self
        assert service.post(decision, json={"decision": "approve", "by": "U0CAROL"}).status_code == 200
        thread = wait_until(lambda: (t := service.get(f"/api/threads/{thread_id}").json())["status"] == "done" and t)
        [decided] = [e for e in thread["events"] if e["type"] == "approval_decided"]
        identity = decided["identity"]
        assert (identity["method"], identity["person"], identity["subject"]) == ("service_token", "carol", "U0CAROL")
    finally:
        service.close()
        server.stop()
