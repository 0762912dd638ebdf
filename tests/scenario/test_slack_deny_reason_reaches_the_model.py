"""Deny -> the modal opens at once -> the reason is submitted -> the reason is in the model's next
request -> the model's answer is posted in the thread; the card shows the denial and its reason."""

from __future__ import annotations

import json

import pytest

from channels.slack.blocks import DENY_ACTION_ID, DENY_CALLBACK_ID
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
def bot(make_slack_bot: MakeSlackBot) -> SlackSignoff:
    return make_slack_bot()


def test_deny_opens_a_modal_and_the_reason_reaches_the_model(
    bot: SlackSignoff, fake: FakeSlack, model: FakeModelServer
) -> None:
    model.script(
        tool_call("deploy", {"service": "web", "version": "4.0.0", "reason": "new release"}),
        text("Understood: no deploy of web 4.0.0 during the freeze."),
    )
    mention = app_mention("<@UBOT> deploy web 4.0.0", user=BOB, channel="C2")
    assert bot.event(mention).status_code == 200
    [(card_at, card)] = wait_for_card(fake)
    request_id = button_value(card)

    assert (
        bot.click(DENY_ACTION_ID, request_id, user=ALICE, card=card_at, trigger_id="77.1700000000.abcdef").status_code
        == 200
    )
    [opened] = fake.wait_for_sync("views.open")
    assert opened["trigger_id"] == "77.1700000000.abcdef"
    assert opened["view"]["callback_id"] == DENY_CALLBACK_ID and opened["view"]["private_metadata"] == request_id
    assert bot.pending()[0]["id"] == request_id  # opening the modal decides nothing

    response = bot.submit_deny(request_id, "code freeze until Monday", user=ALICE)
    assert response.status_code == 200 and response.text in ("", "null")  # the modal closes

    thread = bot.wait_status(bot.only_thread()["id"], "done")
    denial = next(e for e in thread["events"] if e["type"] == "approval_decided")
    assert (denial["approved"], denial["by"], denial["comment"]) == (False, ALICE, "code freeze until Monday")
    assert "code freeze until Monday" in json.dumps(model.requests[-1]["messages"])
    assert not any(e["type"] == "tool_result" for e in thread["events"])

    reply = wait_until(
        lambda: [m for _, m in posted(fake) if m["text"].startswith("Understood: no deploy")], message="the answer"
    )[0]
    assert reply["thread_ts"] == mention["ts"]
    fake.wait_for_sync("chat.update")
    card_now = fake.messages[card_at]
    assert not has_buttons(card_now)
    shown = json.dumps(card_now["blocks"])
    assert "Denied" in shown and "code freeze until Monday" in shown and "<@U0ALICE>" in shown

    # The same submission again (a replay) changes nothing and still closes the modal.
    again = bot.submit_deny(request_id, "code freeze until Monday", user=ALICE)
    assert again.status_code == 200 and "errors" not in again.text
    assert sum(e["type"] == "approval_decided" for e in bot.thread(thread["id"])["events"]) == 1


def test_an_empty_reason_keeps_the_modal_open(bot: SlackSignoff, fake: FakeSlack, model: FakeModelServer) -> None:
    model.script(tool_call("restart_service", {"name": "search", "reason": "slow"}))
    assert bot.event(app_mention("<@UBOT> restart search", user=BOB, channel="C3")).status_code == 200
    [(_, card)] = wait_for_card(fake)
    response = bot.submit_deny(button_value(card), "   ", user=ALICE)
    assert response.status_code == 200
    assert response.json()["response_action"] == "errors"
    assert len(bot.pending()) == 1
