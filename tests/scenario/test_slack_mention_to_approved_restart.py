"""A mention in a channel -> the model calls restart_service -> the card is posted in the thread ->
Approve is clicked -> the tool runs once -> the card shows the outcome -> the final reply is in the
thread. Everything through a real `signoff serve`, signed requests and a fake Slack Web API."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from channels.slack.blocks import APPROVE_ACTION_ID
from tests.support.effects import service_actions
from tests.support.fake_model import FakeModelServer, text, tool_call
from tests.support.fake_slack import FakeSlack
from tests.support.signoff_process import wait_until
from tests.support.slack_requests import app_mention
from tests.support.slack_signoff import (
    ALICE,
    BOB,
    MakeSlackBot,
    SlackSignoff,
    button_value,
    has_buttons,
    posted,
    wait_for_card,
)


@pytest.fixture
def bot(make_slack_bot: MakeSlackBot) -> Iterator[SlackSignoff]:
    running = make_slack_bot()
    yield running
    assert max(running.latencies) < 3.0, running.latency_summary()  # Slack gives up after 3 s


def test_mention_card_approve_runs_once_and_replies_in_the_thread(
    bot: SlackSignoff, fake: FakeSlack, model: FakeModelServer
) -> None:
    model.script(
        tool_call("restart_service", {"name": "payments", "reason": "the payments worker is stuck"}),
        text("Restarted payments; it is running again."),
    )
    mention = app_mention("<@UBOT> restart the payments worker", user=BOB, channel="C1")
    assert bot.event(mention).status_code == 200

    [(card_at, card)] = wait_for_card(fake)
    assert card_at[0] == "C1" and card["thread_ts"] == mention["ts"]  # in the thread the mention started
    shown = json.dumps(card["blocks"])
    assert "restart_service" in shown and "payments" in shown and "the payments worker is stuck" in shown
    assert "<@U0BOB>" in shown and "<@U0ALICE>" in shown  # who asked, who may approve
    request_id = button_value(card)
    thread = bot.only_thread()
    assert thread["events"][0] == {
        **thread["events"][0],
        "type": "human_message",
        "text": "restart the payments worker",
    }
    assert thread["events"][0]["by"] == BOB and thread["status"] == "waiting"

    assert bot.click(APPROVE_ACTION_ID, request_id, user=ALICE, card=card_at).status_code == 200

    done = bot.wait_status(thread["id"], "done")
    assert [e["type"] for e in done["events"]] == [
        "human_message",
        "approval_requested",
        "approval_decided",
        "tool_started",
        "tool_result",
        "agent_reply",
    ]
    assert done["events"][2]["by"] == ALICE
    [action] = service_actions(bot.process.env["SIGNOFF_DATABASE_URL"])
    assert (action.service, action.action, action.approved_by) == ("payments", "restart", ALICE)

    # The card now shows the outcome, who decided and when, and has no buttons.
    [update] = fake.wait_for_sync("chat.update")
    assert (update["channel"], update["ts"]) == card_at
    card_now = fake.messages[card_at]
    assert not has_buttons(card_now)
    outcome = json.dumps(card_now["blocks"])
    assert "Approved" in outcome and "<@U0ALICE>" in outcome and "<!date^" in outcome

    # The final reply is in the same thread, links not unfurled.
    reply = wait_until(
        lambda: [m for _, m in posted(fake) if m["text"] == "Restarted payments; it is running again."],
        message="the final reply",
    )[0]
    assert reply["thread_ts"] == mention["ts"]
    final_post = [p for p in fake.calls_to("chat.postMessage") if p["text"] == reply["text"]][0]
    assert final_post["unfurl_links"] in (False, "false", "0", 0) and final_post["channel"] == "C1"
    assert len(service_actions(bot.process.env["SIGNOFF_DATABASE_URL"])) == 1 and len(model.requests) == 2
