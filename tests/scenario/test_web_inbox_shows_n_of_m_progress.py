"""The web inbox without a browser (its pages work without JavaScript): someone in the people
directory signs in with a personal token, sees a prod deploy that needs two SREs as "0 of 2",
approves it from the form, and the page then says "1 of 2: alice"; carol's approval completes it.
A real `signoff serve` with tests/support/policy_agent.py."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.support.fake_model import FakeModelServer, text, tool_call
from tests.support.people import POLICY_AGENT, directory
from tests.support.signoff_process import SignoffProcess, wait_until
from tests.support.web_session import CSRF, signed_in


def progress_of(client: httpx.Client, request_id: str) -> str:
    page = client.get("/").text
    card = page.split(f'id="request-{request_id}"', 1)[1].split("</article>", 1)[0]
    found = re.search(r'<dd class="progress">([^<]*)</dd>', card)
    assert found, card
    return found.group(1)


def test_the_inbox_shows_progress_toward_two_approvals(tmp_path: Path, model: FakeModelServer) -> None:
    url = f"sqlite:///{tmp_path / 'signoff.db'}"
    people = directory(url)
    server = SignoffProcess({"SIGNOFF_DATABASE_URL": url, **model.settings(), **POLICY_AGENT}, tmp_path).start()
    try:
        model.script(tool_call("deploy", {"service": "web", "env": "prod", "reason": "release 1.2"}), text("Deployed."))
        bob = server.client(people.tokens["bob"])
        thread_id = bob.post("/api/threads", json={"message": "deploy web to prod"}).json()["id"]
        [request] = wait_until(lambda: bob.get("/api/requests", params={"status": "pending"}).json()["requests"])

        alice, carol = signed_in(server, people.tokens["alice"]), signed_in(server, people.tokens["carol"])
        assert progress_of(alice, request["id"]) == "0 of 2"
        page = alice.get("/").text
        csrf, digest = CSRF.search(page), re.search(r'name="digest" value="([^"]+)"', page)
        assert csrf and digest
        decided = alice.post(
            f"/requests/{request['id']}/decide",
            data={"csrf": csrf.group(1), "digest": digest.group(1), "decision": "approve", "comment": ""},
        )
        assert decided.status_code == 303, decided.text
        assert progress_of(carol, request["id"]) == "1 of 2: alice"

        page = carol.get("/").text
        csrf, digest = CSRF.search(page), re.search(r'name="digest" value="([^"]+)"', page)
        assert csrf and digest
        carol.post(
            f"/requests/{request['id']}/decide",
            data={"csrf": csrf.group(1), "digest": digest.group(1), "decision": "approve", "comment": "go"},
        )
        done = wait_until(lambda: (t := bob.get(f"/api/threads/{thread_id}").json())["status"] == "done" and t)
        decision = next(e for e in done["events"] if e["type"] == "approval_decided")
        assert [a["person"] for a in decision["approvals"]] == ["alice", "carol"]
        assert {a["method"] for a in decision["approvals"]} == {"web_token"}

        # The timeline shows each approval as it counted, who gave it and how they were proven.
        timeline = carol.get(f"/threads/{thread_id}").text
        assert "Approval <strong>1 of 2</strong> by <strong>alice</strong>" in timeline
        assert "<strong>Approved</strong> by <strong>carol</strong>: go" in timeline
        assert timeline.count("Proven by the web inbox, signed in with their personal token") == 2
    finally:
        server.stop()
