"""N of M ends at the first denial, whatever was counted before it: on Slack (signed requests to the
real endpoint, the fake Web API) carol's denial after alice's counted approval closes the request,
the card says denied, the model reads the reason and nothing runs; a later click is told it was
denied. Over the API the person who asked withdraws their own request after a counted approval
(no self-approval lets them deny), and the next approval gets 409; from the first counted
approval on, the request's JSON says it is no longer `editable`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from channels.slack.blocks import APPROVE_ACTION_ID
from tests.support.fake_model import FakeModelServer, text, tool_call
from tests.support.fake_slack import FakeSlack
from tests.support.people import POLICY_AGENT, directory
from tests.support.signoff_process import SignoffProcess, wait_until
from tests.support.slack_requests import app_mention
from tests.support.slack_signoff import ALICE, BOB, MakeSlackBot, button_value, wait_for_card

CAROL = "U0CAROL"
PROD = tool_call("deploy", {"service": "web", "env": "prod", "reason": "release"})


def ephemerals(fake: FakeSlack, user: str) -> list[str]:
    return [str(p["text"]) for p in fake.calls_to("chat.postEphemeral") if p["user"] == user]


def test_a_denial_after_a_counted_approval_ends_it_on_slack(
    make_slack_bot: MakeSlackBot, fake: FakeSlack, model: FakeModelServer, tmp_path: Path
) -> None:
    directory(f"sqlite:///{tmp_path / 'signoff.db'}")
    bot = make_slack_bot(**POLICY_AGENT)
    model.script(PROD, text("Not deployed: carol says the release is not ready."))
    assert bot.event(app_mention("<@UBOT> deploy web to prod", user=BOB)).status_code == 200
    [(card_at, card)] = wait_for_card(fake)
    request_id = button_value(card)

    bot.click(APPROVE_ACTION_ID, request_id, user=ALICE, card=card_at)
    wait_until(lambda: bot.request(request_id)["progress"] == "1 of 2", message="alice's approval counted")

    assert bot.submit_deny(request_id, "release notes are not ready", user=CAROL).status_code == 200
    thread = bot.wait_status(bot.request(request_id)["thread_id"], "done")
    events: list[dict[str, Any]] = thread["events"]
    assert not [e for e in events if e["type"] in ("tool_started", "tool_result")]
    [decided] = [e for e in events if e["type"] == "approval_decided"]
    assert (decided["approved"], decided["by"], decided["identity"]["person"]) == (False, CAROL, "carol")
    assert "release notes are not ready" in str(model.requests[-1]["messages"])
    assert bot.request(request_id)["status"] == "denied"
    wait_until(
        lambda: (
            "Denied" in str(fake.messages[card_at]["blocks"])
            and not any(b.get("type") == "actions" for b in fake.messages[card_at]["blocks"])
        ),
        message="the card shows the denial, without buttons",
    )

    bot.click(APPROVE_ACTION_ID, request_id, user=ALICE, card=card_at)
    late = wait_until(lambda: [t for t in ephemerals(fake, ALICE) if "already denied" in t], message="told")
    assert "carol" in late[0] or CAROL in late[0]
    assert bot.request(request_id)["status"] == "denied"


def test_the_person_who_asked_withdraws_after_a_counted_approval_over_the_api(
    tmp_path: Path, model: FakeModelServer
) -> None:
    url = f"sqlite:///{tmp_path / 'signoff.db'}"
    people = directory(url)
    server = SignoffProcess({"SIGNOFF_DATABASE_URL": url, **model.settings(), **POLICY_AGENT}, tmp_path).start()
    bob, alice, carol = (server.client(people.tokens[n]) for n in ("bob", "alice", "carol"))
    try:
        model.script(PROD, text("Withdrawn; nothing was deployed."))
        thread_id = bob.post("/api/threads", json={"message": "deploy web to prod"}).json()["id"]
        [request] = wait_until(lambda: bob.get("/api/requests", params={"status": "pending"}).json()["requests"])
        decision = f"/api/requests/{request['id']}/decision"
        assert request["editable"] is True
        counted = alice.post(decision, json={"decision": "approve"}).json()
        assert counted["progress"] == "1 of 2"
        assert counted["editable"] is False  # the others approve the arguments as shown: no more edits

        withdrawn = bob.post(decision, json={"decision": "deny", "comment": "wrong service"})
        assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "denied", withdrawn.text
        late = carol.post(decision, json={"decision": "approve"})
        assert late.status_code == 409 and "denied" in late.json()["detail"]

        thread = wait_until(lambda: (t := bob.get(f"/api/threads/{thread_id}").json())["status"] == "done" and t)
        assert not [e for e in thread["events"] if e["type"] in ("tool_started", "tool_result")]
        [decided] = [e for e in thread["events"] if e["type"] == "approval_decided"]
        assert (decided["approved"], decided["identity"]["person"]) == (False, "bob")
        assert bob.get(f"/api/requests/{request['id']}").json()["status"] == "denied"
    finally:
        for client in (bob, alice, carol):
            client.close()
        server.stop()
