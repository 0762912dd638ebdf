"""Edit before approving and questions with choices in Slack, through signed requests to the real
endpoint and the fake Web API (which checks every view `views.open` gets): the card's Edit opens a
modal of the tool's fields, prefilled; a submission whose fields do not fit stays open with the
problem under the field and decides nothing; a good one approves and runs exactly the edited call.
A question's options are buttons; with free text not allowed, a thread reply that is no option is
refused (an ephemeral says which are), and a button answers with that option. The Home tab offers
the same Edit and option buttons, to the same effect."""

from __future__ import annotations

import json
from typing import Any

from channels.slack.blocks import EDIT_ACTION_ID, EDIT_CALLBACK_ID, EDIT_FIELD_ACTION_ID, EDIT_FIELD_BLOCK_PREFIX
from tests.support.edit_agent import EDIT_AGENT
from tests.support.fake_model import FakeModelServer, text, tool_call
from tests.support.fake_slack import FakeSlack
from tests.support.signoff_process import wait_until
from tests.support.slack_requests import app_mention, home_block_actions, home_opened, message_event, view_submission
from tests.support.slack_signoff import ALICE, BOB, MakeSlackBot, button_value, posted, wait_for_card


def actions(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [el for b in message.get("blocks") or [] if b.get("type") == "actions" for el in b["elements"]]


def submission(request_id: str, values: dict[str, Any], view_id: str) -> dict[str, Any]:
    state = {EDIT_FIELD_BLOCK_PREFIX + name: {EDIT_FIELD_ACTION_ID: value} for name, value in values.items()}
    return view_submission(EDIT_CALLBACK_ID, request_id, state, user=ALICE, view_id=view_id)


def selected(value: str) -> dict[str, Any]:
    return {"type": "static_select", "selected_option": {"text": {"type": "plain_text", "text": value}, "value": value}}


def test_edit_in_a_modal_then_approve(make_slack_bot: MakeSlackBot, fake: FakeSlack, model: FakeModelServer) -> None:
    bot = make_slack_bot(**EDIT_AGENT)
    model.script(tool_call("scale", {"service": "web", "replicas": 2, "reason": "traffic"}), text("Scaled."))
    assert bot.event(app_mention("<@UBOT> scale web", user=BOB, channel="C2")).status_code == 200
    [(card_at, card)] = wait_for_card(fake)
    request_id = button_value(card)
    assert [b["action_id"] for b in actions(card)] == ["signoff_approve", EDIT_ACTION_ID, "signoff_deny"]

    assert (
        bot.click(EDIT_ACTION_ID, request_id, user=ALICE, card=card_at, trigger_id="91.1700000000.abc123").status_code
        == 200
    )
    [opened] = fake.wait_for_sync("views.open")
    view = opened["view"]
    assert opened["trigger_id"] == "91.1700000000.abc123" and view["callback_id"] == EDIT_CALLBACK_ID
    inputs = {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}
    assert inputs["arg:replicas"]["initial_value"] == "2"
    assert (
        inputs["arg:service"]["type"] == "static_select" and inputs["arg:service"]["initial_option"]["value"] == "web"
    )
    assert inputs["arg:dry_run"]["initial_option"]["value"] == "false"
    assert bot.pending()[0]["id"] == request_id  # opening the modal decides nothing

    bad = bot.interaction(
        submission(request_id, {"service": selected("search"), "replicas": "lots", "dry_run": selected("false")}, "V1")
    )
    assert bad.status_code == 200
    assert bad.json()["response_action"] == "errors" and "whole number" in bad.json()["errors"]["arg:replicas"]
    assert bot.request(request_id)["status"] == "pending"

    good = bot.interaction(
        submission(request_id, {"service": selected("search"), "replicas": "4", "dry_run": selected("true")}, "V2")
    )
    assert good.status_code == 200 and good.text in ("", "null")  # the modal closes
    thread = bot.wait_status(bot.only_thread()["id"], "done")
    [result] = [e["result"] for e in thread["events"] if e["type"] == "tool_result"]
    assert result.startswith("scaled search to 4 (dry_run=True")
    [edited] = [e for e in thread["events"] if e["type"] == "approval_edited"]
    assert edited["previous_arguments"] == {"service": "web", "replicas": 2, "dry_run": False}
    assert edited["identity"]["method"] == "slack" and edited["by"] == ALICE
    wait_until(lambda: "Approved" in json.dumps(fake.messages[card_at]["blocks"]), message="the decided card")
    assert 'service = \\"search\\"' in json.dumps(fake.messages[card_at]["blocks"])  # the card shows what ran


def test_a_question_offers_its_options_as_buttons(
    make_slack_bot: MakeSlackBot, fake: FakeSlack, model: FakeModelServer
) -> None:
    bot = make_slack_bot(**EDIT_AGENT)
    model.script(
        tool_call("ask_human", {"question": "Which region?", "options": ["eu", "us"], "allow_free_text": False}),
        text("Going to us."),
    )
    mention = app_mention("<@UBOT> pick a region", user=BOB, channel="C3")
    assert bot.event(mention).status_code == 200
    [(asked_at, asked)] = wait_until(
        lambda: posted(fake, lambda m: bool(actions(m))), message="the question with buttons"
    )
    buttons = actions(asked)
    assert [(b["text"]["text"], b["action_id"]) for b in buttons] == [
        ("eu", "signoff_choice_1"),
        ("us", "signoff_choice_2"),
    ]
    request_id = buttons[0]["value"]

    reply = message_event("asia", user=BOB, channel="C3", thread_ts=mention["ts"])
    assert bot.event(reply).status_code == 200
    [refusal] = wait_until(
        lambda: [p["text"] for p in fake.calls_to("chat.postEphemeral") if p["user"] == BOB], message="a refusal"
    )
    assert "1) eu  2) us" in refusal
    assert bot.request(request_id)["status"] == "pending"

    assert bot.click("signoff_choice_2", request_id, user=BOB, card=asked_at).status_code == 200
    thread = bot.wait_status(bot.only_thread()["id"], "done")
    [answered] = [e for e in thread["events"] if e["type"] == "question_answered"]
    assert (answered["answer"], answered["choice"], answered["by"]) == ("us", "us", BOB)


def home_tab(fake: FakeSlack, user: str, request_id: str) -> list[dict[str, Any]]:
    """The buttons for `request_id` in the latest Home tab published for `user` (waits for them)."""

    def latest() -> list[dict[str, Any]] | None:
        views = [c["view"] for c in fake.calls_to("views.publish") if c["user_id"] == user]
        found = [e for e in actions(views[-1]) if e.get("value") == request_id] if views else []
        return found or None

    return list(wait_until(latest, timeout=30, message=f"{request_id} in the Home tab of {user}"))


def test_edit_and_an_option_from_the_home_tab(
    make_slack_bot: MakeSlackBot, fake: FakeSlack, model: FakeModelServer
) -> None:
    bot = make_slack_bot(**EDIT_AGENT, SIGNOFF_SLACK_HOME_INTERVAL="0.5")
    model.script(
        tool_call("scale", {"service": "web", "replicas": 2, "reason": "traffic"}),
        text("Scaled."),
        tool_call("ask_human", {"question": "Which region?", "options": ["eu", "us"], "allow_free_text": False}),
        text("Going to eu."),
    )
    assert bot.event(app_mention("<@UBOT> scale web", user=BOB, channel="C4")).status_code == 200
    [(card_at, card)] = wait_for_card(fake)
    request_id = button_value(card)

    # The Home tab has the card's controls, Edit included, and Edit there opens the same form.
    assert bot.event(home_opened(ALICE)).status_code == 200
    controls = home_tab(fake, ALICE, request_id)
    assert [b["action_id"] for b in controls] == [b["action_id"] for b in actions(card)]
    assert EDIT_ACTION_ID in [b["action_id"] for b in controls]
    assert bot.interaction(home_block_actions(EDIT_ACTION_ID, request_id, user=ALICE)).status_code == 200
    [opened] = fake.wait_for_sync("views.open")
    assert opened["view"]["callback_id"] == EDIT_CALLBACK_ID
    good = bot.interaction(
        submission(request_id, {"service": selected("search"), "replicas": "3", "dry_run": selected("true")}, "V3")
    )
    assert good.status_code == 200 and good.text in ("", "null")
    thread = bot.wait_status(bot.only_thread()["id"], "done")
    [result] = [e["result"] for e in thread["events"] if e["type"] == "tool_result"]
    assert result.startswith("scaled search to 3 (dry_run=True")
    wait_until(lambda: "Approved" in json.dumps(fake.messages[card_at]["blocks"]), message="the card in the thread")

    # A question whose answer must be one of its options: the options are the Home tab's buttons.
    assert bot.event(app_mention("<@UBOT> pick a region", user=BOB, channel="C5")).status_code == 200
    [question] = wait_until(lambda: [r for r in bot.pending() if r["kind"] == "question"], message="the question")
    buttons = home_tab(fake, ALICE, question["id"])
    assert [(b["text"]["text"], b["action_id"]) for b in buttons] == [
        ("eu", "signoff_choice_1"),
        ("us", "signoff_choice_2"),
    ]
    assert bot.interaction(home_block_actions("signoff_choice_1", question["id"], user=ALICE)).status_code == 200
    done = bot.wait_status(question["thread_id"], "done")
    [answered] = [e for e in done["events"] if e["type"] == "question_answered"]
    assert (answered["answer"], answered["by"]) == ("eu", ALICE)
