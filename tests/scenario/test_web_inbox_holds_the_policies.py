"""The web inbox's forms follow the same policy as every other surface (no browser: its pages work
without JavaScript). Bob, who asked for a prod deploy, cannot approve it there (403, the page says
why, nothing is decided) but may withdraw it later; alice's approval counts once (a second is 409);
a question with closed options refuses an answer that is none of them (422, naming them). A real
`signoff serve` with tests/support/policy_agent.py and personal-token web sessions."""

from __future__ import annotations

import html
import re
from pathlib import Path

import httpx

from tests.scenario.test_web_inbox_shows_n_of_m_progress import CSRF, signed_in
from tests.support.fake_model import FakeModelServer, text, tool_call
from tests.support.people import POLICY_AGENT, directory
from tests.support.signoff_process import SignoffProcess, wait_until


def decide(client: httpx.Client, request_id: str, decision: str) -> httpx.Response:
    page = client.get("/").text
    csrf, digest = CSRF.search(page), re.search(r'name="digest" value="([^"]+)"', page)
    assert csrf and digest, page
    form = {"csrf": csrf.group(1), "digest": digest.group(1), "decision": decision, "comment": "web"}
    return client.post(f"/requests/{request_id}/decide", data=form)


def test_the_web_forms_refuse_what_the_policy_refuses(tmp_path: Path, model: FakeModelServer) -> None:
    url = f"sqlite:///{tmp_path / 'signoff.db'}"
    people = directory(url)
    server = SignoffProcess({"SIGNOFF_DATABASE_URL": url, **model.settings(), **POLICY_AGENT}, tmp_path).start()
    api = server.client(people.tokens["bob"])
    bob, alice = signed_in(server, people.tokens["bob"]), signed_in(server, people.tokens["alice"])
    try:
        model.script(tool_call("deploy", {"service": "web", "env": "prod", "reason": "release"}), text("Withdrawn."))
        thread_id = api.post("/api/threads", json={"message": "deploy web to prod"}).json()["id"]
        [request] = wait_until(lambda: api.get("/api/requests", params={"status": "pending"}).json()["requests"])

        own = decide(bob, request["id"], "approve")
        assert own.status_code == 403 and "may not approve their own request" in html.unescape(own.text)
        assert api.get(f"/api/requests/{request['id']}").json()["progress"] == "0 of 2"

        assert decide(alice, request["id"], "approve").status_code == 303
        twice = decide(alice, request["id"], "approve")
        assert twice.status_code == 409 and "alice already approved" in html.unescape(twice.text)
        assert api.get(f"/api/requests/{request['id']}").json()["progress"] == "1 of 2"

        assert decide(bob, request["id"], "deny").status_code == 303  # the person who asked withdraws it
        done = wait_until(lambda: (t := api.get(f"/api/threads/{thread_id}").json())["status"] == "done" and t)
        assert not [e for e in done["events"] if e["type"] == "tool_result"]

        model.script(
            tool_call("ask_human", {"question": "Which region?", "options": ["eu", "us"], "allow_free_text": False}),
            text("Going with the choice."),
        )
        thread_id = api.post("/api/threads", json={"message": "pick a region"}).json()["id"]
        [question] = wait_until(lambda: api.get("/api/requests", params={"status": "pending"}).json()["requests"])
        page = alice.get("/").text
        csrf = CSRF.search(page)
        assert csrf
        offside = alice.post(f"/requests/{question['id']}/answer", data={"csrf": csrf.group(1), "answer": "asia"})
        assert offside.status_code == 422 and "1) eu  2) us" in html.unescape(offside.text)
        assert api.get(f"/api/requests/{question['id']}").json()["status"] == "pending"
    finally:
        for client in (api, bob, alice):
            client.close()
        server.stop()
