"""Standing grants through a real `signoff serve` (tests/support/grants_agent.py), over the HTTP API
and the CLI: a grant given with an approval lets later calls inside its scope run without asking
(`grant_used` on the thread and in the audit, no request left pending), and nothing outside it; a
revoked or expired grant stops covering the next call at once; and each refusal is clear: the
requester cannot grant, nor anyone with a denial, a scope wider than the tool allows, an end in the
past, a tool that allows no grant, or a request needing two approvers."""

from __future__ import annotations

import json
import os
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from tests.scenario.test_cli_as_an_operator_uses_it import signoff_cli
from tests.support.fake_model import FakeModelServer, text, tool_call
from tests.support.people import ROOT, directory
from tests.support.signoff_process import SignoffProcess, wait_until

GRANTS_AGENT = {
    "SIGNOFF_AGENT": "tests.support.grants_agent:agent",
    "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
}


def start(model: FakeModelServer, tmp_path: Path) -> SignoffProcess:
    env = {"SIGNOFF_DATABASE_URL": f"sqlite:///{tmp_path / 'signoff.db'}", **model.settings(), **GRANTS_AGENT}
    return SignoffProcess(env, tmp_path).start()


def pending(api: httpx.Client) -> dict[str, Any]:
    [request] = wait_until(lambda: api.get("/api/requests", params={"status": "pending"}).json()["requests"])
    return dict(request)


def settled(api: httpx.Client, thread_id: str, status: str) -> dict[str, Any]:
    return dict(wait_until(lambda: (t := api.get(f"/api/threads/{thread_id}").json())["status"] == status and t))


def types(thread: dict[str, Any]) -> list[str]:
    return [e["type"] for e in thread["events"]]


def at(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat()


def test_grants_are_given_used_revoked_and_expire(tmp_path: Path, noted: FakeModelServer) -> None:
    model = noted
    people = directory(f"sqlite:///{tmp_path / 'signoff.db'}")
    server = start(model, tmp_path)
    service = server.client()
    bob, alice, carol = (server.client(people.tokens[n]) for n in ("bob", "alice", "carol"))
    try:
        # A thread grant: the second restart in the same thread runs on it, without a request.
        model.script(
            tool_call("restart", {"name": "web", "reason": "stuck"}),
            tool_call("restart", {"name": "search", "reason": "stuck too"}),
            text("Both restarted."),
        )
        first = bob.post("/api/threads", json={"message": "restart web and search"}).json()["id"]
        request = pending(service)
        decision = f"/api/requests/{request['id']}/decision"
        refusals = [
            (bob, {"scope": "thread"}, 403, "cannot give a standing grant"),
            (alice, {"scope": "thread", "until": at(timedelta(hours=9))}, 422, "at most 8 hours"),
            (alice, {"scope": "thread", "until": at(-timedelta(minutes=1))}, 422, "not in the future"),
            (alice, {"scope": "forever"}, 422, "invalid request"),
        ]
        for client, grant, status, words in refusals:
            refused = client.post(decision, json={"decision": "approve", "grant": grant})
            assert refused.status_code == status and words in refused.text, refused.text
        denied = alice.post(decision, json={"decision": "deny", "comment": "no", "grant": {"scope": "thread"}})
        assert denied.status_code == 422 and "with an approval" in denied.text
        assert service.get(f"/api/requests/{request['id']}").json()["status"] == "pending"

        given = alice.post(decision, json={"decision": "approve", "grant": {"scope": "thread"}})
        assert given.status_code == 200 and "standing grant" in given.json()["message"], given.text
        thread = settled(service, first, "done")
        assert types(thread).count("tool_result") == 2 and types(thread).count("approval_decided") == 1
        [grant_given] = [e for e in thread["events"] if e["type"] == "grant_given"]
        [used] = [e for e in thread["events"] if e["type"] == "grant_used"]
        assert (used["grant_id"], used["by"], used["scope"]) == (grant_given["grant_id"], "alice", "thread")
        assert [e["result"] for e in thread["events"] if e["type"] == "tool_result"] == [
            "restarted web (approved by alice)",
            "restarted search (approved by alice)",
        ]
        thread_grant = grant_given["grant_id"]

        # It covers nothing in another thread: bob's next restart asks, and alice grants an hour.
        model.script(tool_call("restart", {"name": "web", "reason": "again"}), text("Restarted."))
        second = bob.post("/api/threads", json={"message": "restart web"}).json()["id"]
        request = pending(service)
        hour = alice.post(
            f"/api/requests/{request['id']}/decision",
            json={"decision": "approve", "grant": {"scope": "duration", "until": at(timedelta(minutes=30))}},
        )
        assert hour.status_code == 200, hour.text
        settled(service, second, "done")
        hour_grant = next(g["id"] for g in service.get("/api/grants").json()["grants"] if g["scope"] == "duration")

        # Any thread now: carol's restart runs on alice's grant; the audit says so.
        model.script(tool_call("restart", {"name": "cache", "reason": "flush"}), text("Done."))
        third = carol.post("/api/threads", json={"message": "restart cache"}).json()["id"]
        thread = settled(service, third, "done")
        assert "grant_used" in types(thread) and "approval_decided" not in types(thread)
        assert service.get("/api/requests", params={"status": "pending"}).json()["requests"] == []
        audit = [json.loads(line) for line in service.get("/api/audit", params={"thread": third}).text.splitlines()]
        assert [r["type"] for r in audit] == ["approval_requested", "grant_used"]
        assert audit[1]["outcome"].startswith(f"allowed by alice's grant {hour_grant}, until ")

        # Never alice's own requests: the person who gave it is asked like anyone.
        model.script(tool_call("restart", {"name": "cache", "reason": "mine"}), text("Fine."))
        fourth = alice.post("/api/threads", json={"message": "restart cache"}).json()["id"]
        request = pending(service)
        assert request["thread_id"] == fourth
        assert carol.post(f"/api/requests/{request['id']}/decision", json={"decision": "deny"}).status_code == 200
        settled(service, fourth, "done")

        # Revoked: at once, the next call asks.
        listed = {g["id"]: g for g in service.get("/api/grants").json()["grants"]}
        assert set(listed) == {thread_grant, hour_grant} and listed[hour_grant]["uses"] == 1
        assert service.delete(f"/api/grants/{hour_grant}").status_code == 422  # the service token names who
        stranger = service.delete(f"/api/grants/{hour_grant}", params={"by": "mallory@example.com"})
        assert stranger.status_code == 403 and "only its giver or an approver" in stranger.text
        revoked = carol.delete(f"/api/grants/{hour_grant}")
        assert revoked.status_code == 200 and revoked.json()["state"] == "revoked", revoked.text
        assert carol.delete(f"/api/grants/{hour_grant}").status_code == 409
        assert carol.delete("/api/grants/g_nope").status_code == 404
        model.script(tool_call("restart", {"name": "cache", "reason": "again"}), text("Done."))
        fifth = bob.post("/api/threads", json={"message": "restart cache"}).json()["id"]
        request = pending(service)
        assert request["thread_id"] == fifth

        # These exact arguments, for a few seconds: the same call runs on it, then it has expired.
        soon = datetime.now(UTC) + timedelta(seconds=4)
        exact = carol.post(
            f"/api/requests/{request['id']}/decision",
            json={"decision": "approve", "grant": {"scope": "arguments", "until": soon.isoformat()}},
        )
        assert exact.status_code == 200, exact.text
        settled(service, fifth, "done")
        model.script(tool_call("restart", {"name": "cache", "reason": "once more"}), text("Done."))
        sixth = bob.post("/api/threads", json={"message": "restart cache"}).json()["id"]
        assert "grant_used" in types(settled(service, sixth, "done"))
        time.sleep(max(0.0, (soon - datetime.now(UTC)).total_seconds()) + 0.2)
        model.script(tool_call("restart", {"name": "cache", "reason": "after"}), text("Done."))
        seventh = bob.post("/api/threads", json={"message": "restart cache"}).json()["id"]
        request = pending(service)
        assert request["thread_id"] == seventh
        states = {g["id"]: g["state"] for g in service.get("/api/grants", params={"all": "true"}).json()["grants"]}
        assert sorted(states.values()) == ["active", "expired", "revoked"] and states[thread_grant] == "active"

        check_cli(server, tmp_path, thread_grant, request["id"])
    finally:
        for client in (service, bob, alice, carol):
            client.close()
        server.stop()


def check_cli(server: SignoffProcess, tmp_path: Path, thread_grant: str, request_id: str) -> None:
    """`signoff grants list|revoke` and `signoff approve --grant`, at the operator's console."""
    env = {"SIGNOFF_DATABASE_URL": server.env["SIGNOFF_DATABASE_URL"], **GRANTS_AGENT}
    listed = signoff_cli("grants", "list", "--all", "--json", env=env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert {g["state"] for g in json.loads(listed.stdout)} == {"active", "expired", "revoked"}
    revoked = signoff_cli("grants", "revoke", thread_grant, "--by", "ops", env=env, cwd=tmp_path)
    assert revoked.returncode == 0 and "revoked" in revoked.stdout, revoked.stderr
    again = signoff_cli("grants", "revoke", thread_grant, "--by", "ops", env=env, cwd=tmp_path)
    assert again.returncode == 1 and "already revoked by ops" in again.stderr
    wide = signoff_cli(
        "approve", request_id, "--by", "carol", "--grant", "duration", "--until", "2h", env=env, cwd=tmp_path
    )
    assert wide.returncode == 1 and "at most 1 hour" in wide.stderr
    approved = signoff_cli("approve", request_id, "--by", "carol", "--grant", "duration", env=env, cwd=tmp_path)
    assert approved.returncode == 0 and "standing grant" in approved.stdout, approved.stderr
    active = signoff_cli("grants", "list", env=env, cwd=tmp_path)
    assert active.returncode == 0 and "duration" in active.stdout and "by carol" in active.stdout


def test_grants_that_the_tool_or_its_policy_forbid_are_refused(tmp_path: Path, noted: FakeModelServer) -> None:
    model = noted
    people = directory(f"sqlite:///{tmp_path / 'signoff.db'}")
    server = start(model, tmp_path)
    service = server.client()
    alice, bob = (server.client(people.tokens[n]) for n in ("alice", "bob"))
    try:
        model.script(tool_call("drop_database", {"name": "orders", "reason": "cleanup"}))
        bob.post("/api/threads", json={"message": "drop orders"})
        request = pending(service)
        refused = alice.post(
            f"/api/requests/{request['id']}/decision", json={"decision": "approve", "grant": {"scope": "thread"}}
        )
        assert refused.status_code == 422 and "allows no standing grant" in refused.text
        assert alice.post(f"/api/requests/{request['id']}/decision", json={"decision": "deny"}).status_code == 200

        model.script(tool_call("deploy", {"service": "web", "env": "prod", "reason": "release"}))
        bob.post("/api/threads", json={"message": "deploy web to prod"})
        request = wait_until(
            lambda: [
                r
                for r in service.get("/api/requests", params={"status": "pending"}).json()["requests"]
                if r["tool"] == "deploy"
            ]
        )[0]
        two = alice.post(
            f"/api/requests/{request['id']}/decision", json={"decision": "approve", "grant": {"scope": "thread"}}
        )
        assert two.status_code == 422 and "needs 2 approvers" in two.text
        assert service.get(f"/api/requests/{request['id']}").json()["progress"] == "0 of 2"
        assert service.get("/api/grants", params={"all": "true"}).json()["grants"] == []
    finally:
        for client in (service, alice, bob):
            client.close()
        server.stop()


def _csrf(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def web_sign_in(server: SignoffProcess, client: httpx.Client, address: str) -> None:
    """Sign in by the link `serve` prints when it has no mail server."""
    asked = client.post("/signin/link", data={"csrf": _csrf(client.get("/signin")), "address": address, "next": "/"})
    assert asked.status_code == 200
    [link] = wait_until(
        lambda: re.findall(r"http://127\.0\.0\.1:\d+/signin/link\?token=\S+", server.logs()), message="the link"
    )
    opened = client.get(link)
    token = re.search(r'name="token" value="([^"]+)"', opened.text)
    assert token, opened.text
    used = client.post("/signin/link/use", data={"csrf": _csrf(opened), "token": token.group(1), "next": "/"})
    assert used.status_code == 303


def test_a_grant_from_the_web_inbox(tmp_path: Path, noted: FakeModelServer) -> None:
    model = noted
    people = directory(f"sqlite:///{tmp_path / 'signoff.db'}")
    server = start(model, tmp_path)
    service, bob = server.client(), server.client(people.tokens["bob"])
    web = httpx.Client(base_url=server.url, timeout=10)
    try:
        model.script(
            tool_call("restart", {"name": "web", "reason": "stuck"}),
            tool_call("restart", {"name": "search", "reason": "stuck too"}),
            text("Both restarted."),
        )
        thread_id = bob.post("/api/threads", json={"message": "restart web and search"}).json()["id"]
        request = pending(service)
        web_sign_in(server, web, "alice@example.com")
        page = web.get(f"/threads/{thread_id}")
        assert 'name="grant"' in page.text and "for this thread, up to 8 hours" in page.text
        form = {"csrf": _csrf(page), "digest": request["digest"], "decision": "approve", "grant": "thread"}
        wide = web.post(f"/requests/{request['id']}/decide", data={**form, "grant_until": "2099-01-01T00:00"})
        assert wide.status_code == 422 and "at most 8 hours" in wide.text
        decided = web.post(f"/requests/{request['id']}/decide", data=form)
        assert decided.status_code == 303, decided.text
        thread = settled(service, thread_id, "done")
        assert types(thread).count("tool_result") == 2 and "grant_used" in types(thread)
        [given] = [e for e in thread["events"] if e["type"] == "grant_given"]
        assert given["identity"]["method"] == "web_link" and given["scope"] == "thread"
        shown = web.get(f"/threads/{thread_id}").text
        assert f"grant <code>{given['grant_id']}</code>" in shown and "Allowed" in shown
    finally:
        for client in (service, bob, web):
            client.close()
        server.stop()
