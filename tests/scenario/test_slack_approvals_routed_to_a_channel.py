"""With SLACK_APPROVALS_CHANNEL, the card goes to that channel with a link back to the thread; the
thread gets a note pointing at the card, and the outcome once decided."""

from __future__ import annotations

import json

import pytest

from channels.slack.blocks import APPROVE_ACTION_ID
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
    posted,
    wait_for_card,
)

APPROVALS = "C0APPROVALS"


@pytest.fixture
def bot(make_slack_bot: MakeSlackBot) -> SlackSignoff:
    return make_slack_bot(SLACK_APPROVALS_CHANNEL=APPROVALS)


def test_the_card_goes_to_the_approvals_channel_and_the_outcome_to_the_thread(
    bot: SlackSignoff, fake: FakeSlack, model: FakeModelServer
) -> None:
    model.script(
        tool_call("restart_service", {"name": "payments", "reason": "stuck"}),
        text("Restarted payments."),
    )
    mention = app_mention("<@UBOT> restart payments", user=BOB, channel="C1OPS")
    assert bot.event(mention).status_code == 200

    [(card_at, card)] = wait_for_card(fake)
    assert card_at[0] == APPROVALS and "thread_ts" not in card  # a message of its own there
    thread_link = f"https://signoff-test.slack.com/archives/C1OPS/p{mention['ts'].replace('.', '')}"
    assert f"<{thread_link}|Open the conversation>" in json.dumps(card["blocks"])

    def in_thread() -> list[dict]:  # type: ignore[type-arg]
        return [m for (c, _), m in posted(fake) if c == "C1OPS" and m.get("thread_ts") == mention["ts"]]

    [note] = wait_until(in_thread, message="a note in the thread")
    card_link = f"https://signoff-test.slack.com/archives/{APPROVALS}/p{card_at[1].replace('.', '')}"
    assert "Waiting for approval" in note["text"] and card_link in note["text"]

    assert bot.click(APPROVE_ACTION_ID, button_value(card), user=ALICE, card=card_at).status_code == 200
    bot.wait_status(bot.only_thread()["id"], "done")
    fake.wait_for_sync("chat.update", where=lambda p: p["channel"] == APPROVALS and p["ts"] == card_at[1])
    texts = wait_until(lambda: len(in_thread()) == 3 and [m["text"] for m in in_thread()], message="outcome, reply")
    assert texts[1].startswith(":white_check_mark: Approved by <@U0ALICE>") and "restart_service" in texts[1]
    assert texts[2] == "Restarted payments."
