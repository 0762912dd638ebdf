"""An approver clicks Approve and types "go ahead" in the thread a few milliseconds later: the
approved restart runs, once, before the model is asked anything else. (It used to run only when the
decision was the thread's last event, so the reply made the agent forget it.) Through a real
`signoff serve` with one worker slot, signed Slack requests and a fake Slack Web API. In each round
the slot is busy with another thread's slow model call while the click and the reply land, so the
worker's next step sees both, as it does on a busy server."""

from __future__ import annotations

import re
from typing import Any

import pytest

from channels.slack.blocks import APPROVE_ACTION_ID
from tests.support.effects import service_actions
from tests.support.fake_model import FakeModelServer, Response, text, tool_call
from tests.support.fake_slack import FakeSlack
from tests.support.signoff_process import wait_until
from tests.support.slack_requests import app_mention, message_event
from tests.support.slack_signoff import ALICE, BOB, MakeSlackBot, SlackSignoff, button_value, posted

ROUNDS = 2
BUSY = "busy work"
DONE = "Restarted payments."
FORGOT = "It was approved, but I have no result."


def ops_model(body: dict[str, Any]) -> Response:
    content = body["messages"][-1]["content"]
    if BUSY in content:
        return text("Finished the busy work.", delay=2.5)
    if re.search(r'<tool_result id="[^"]*" tool="restart_service">', content):
        return text(DONE)
    if "<approval_granted" in content:
        return text(FORGOT)  # what the model can only say when the approved call did not run
    return tool_call("restart_service", {"name": "payments", "reason": "stuck"})


@pytest.fixture
def bot(make_slack_bot: MakeSlackBot) -> SlackSignoff:
    return make_slack_bot(ops_model, SIGNOFF_WORKERS="1")


def test_approve_then_a_reply_in_the_thread_runs_the_approved_tool_once(
    bot: SlackSignoff, fake: FakeSlack, model: FakeModelServer
) -> None:
    for i in range(ROUNDS):
        channel = f"C{i}"
        mention = app_mention("<@UBOT> restart the payments worker", user=BOB, channel=channel)
        assert bot.event(mention).status_code == 200
        [(card_at, card)] = wait_until(
            lambda ch=channel: [(at, m) for at, m in posted(fake) if at[0] == ch and m.get("blocks")],
            message=f"the card in {channel}",
        )
        # Another thread takes the only worker slot: its model call is in flight for 2.5 s.
        assert bot.api.post("/api/threads", json={"message": f"{BUSY} {i}", "by": BOB}).status_code == 201
        wait_until(lambda n=i: any(f"{BUSY} {n}" in str(r["messages"]) for r in model.requests), message="busy")
        assert bot.click(APPROVE_ACTION_ID, button_value(card), user=ALICE, card=card_at).status_code == 200
        reply = message_event("go ahead", user=ALICE, channel=channel, thread_ts=mention["ts"])
        assert bot.event(reply).status_code == 200  # within milliseconds of the click

    # Each reply was recorded before its 200: once done, a thread stays done.
    threads = wait_until(lambda: len(found := bot.threads()) == 2 * ROUNDS and found, message="the threads")
    threads = [t for t in threads if BUSY not in str(bot.thread(t["id"])["events"][0]["text"])]
    finished = []
    for thread in threads:
        done = bot.wait_status(thread["id"], "done")
        types = [e["type"] for e in done["events"]]
        results = [e for e in done["events"] if e["type"] == "tool_result" and e["tool"] == "restart_service"]
        assert len(results) == 1, types
        # The call ran before the model was asked again: the first reply is the one after the result.
        replies = [e["text"] for e in done["events"] if e["type"] == "agent_reply"]
        assert FORGOT not in replies and replies[0] == DONE, types
        assert types.index("tool_result") < types.index("agent_reply")
        finished.append(done)
    assert len(finished) == ROUNDS
    assert len(service_actions(bot.process.env["SIGNOFF_DATABASE_URL"])) == ROUNDS  # one real restart per approval
