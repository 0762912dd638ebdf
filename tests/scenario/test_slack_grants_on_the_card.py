"""Standing grants on Slack, through signed requests to the real endpoint and the fake Web API: the
card keeps its Approve, Edit and Deny buttons and adds a select of the grants the tool allows; the person
who asked picks one and is told they cannot grant (nothing decided); alice picks "for this thread",
and the thread's next restart runs on her grant without a second card."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from channels.slack.blocks import APPROVE_ACTION_ID, APPROVE_GRANT_ACTION_ID, DENY_ACTION_ID, EDIT_ACTION_ID
from tests.scenario.test_grants_over_the_api_and_the_cli import GRANTS_AGENT
from tests.scenario.test_slack_policies_hold_on_the_card import told
from tests.support.fake_model import FakeModelServer, text, tool_call
from tests.support.fake_slack import FakeSlack
from tests.support.people import directory
from tests.support.signoff_process import wait_until
from tests.support.slack_requests import app_mention, block_actions
from tests.support.slack_signoff import (
    ALICE,
    BOB,
    MakeSlackBot,
    SlackSignoff,
    button_value,
    has_buttons,
    wait_for_card,
)


def choose(bot: SlackSignoff, card_at: tuple[str, str], request_id: str, scope: str, user: str) -> int:
    """Pick `scope` on the card's grant select, as Slack posts the choice."""
    message = dict(bot.fake.messages[card_at])
    payload = block_actions(
        APPROVE_GRANT_ACTION_ID, "", user=user, channel=card_at[0], message_ts=card_at[1], message=message
    )
    action: dict[str, Any] = payload["actions"][0]
    action.pop("value")
    action.pop("text")
    action["type"] = "static_select"
    action["selected_option"] = {"text": {"type": "plain_text", "text": scope}, "value": f"{request_id} {scope}"}
    return bot.interaction(payload).status_code


def test_a_thread_grant_from_the_card(
    make_slack_bot: MakeSlackBot, fake: FakeSlack, model: FakeModelServer, tmp_path: Path
) -> None:
    directory(f"sqlite:///{tmp_path / 'signoff.db'}")
    bot = make_slack_bot(**GRANTS_AGENT)
    model.script(
        tool_call("restart", {"name": "web", "reason": "stuck"}),
        tool_call("restart", {"name": "search", "reason": "stuck too"}),
        text("Both restarted."),
    )
    assert bot.event(app_mention("<@UBOT> restart web and search", user=BOB)).status_code == 200
    [(card_at, card)] = wait_for_card(fake)
    request_id = button_value(card)
    [actions] = [b for b in card["blocks"] if b.get("type") == "actions"]
    kinds = [(e["type"], e["action_id"]) for e in actions["elements"]]
    assert kinds == [
        ("button", APPROVE_ACTION_ID),
        ("button", EDIT_ACTION_ID),
        ("button", DENY_ACTION_ID),
        ("static_select", APPROVE_GRANT_ACTION_ID),
    ]
    values = [o["value"] for o in actions["elements"][-1]["options"]]
    assert values == [f"{request_id} thread", f"{request_id} duration", f"{request_id} arguments"]

    assert choose(bot, card_at, request_id, "thread", BOB) == 200
    [refusal] = told(fake, BOB)
    assert "cannot give a standing grant" in refusal
    assert bot.request(request_id)["status"] == "pending"

    assert choose(bot, card_at, request_id, "thread", ALICE) == 200
    thread = bot.wait_status(bot.request(request_id)["thread_id"], "done")
    kinds_of = [e["type"] for e in thread["events"]]
    assert kinds_of.count("tool_result") == 2 and kinds_of.count("approval_decided") == 1
    [given] = [e for e in thread["events"] if e["type"] == "grant_given"]
    [used] = [e for e in thread["events"] if e["type"] == "grant_used"]
    assert (given["scope"], given["by"], used["grant_id"]) == ("thread", ALICE, given["grant_id"])
    assert (given["identity"]["person"], given["identity"]["method"]) == ("alice", "slack")
    # The card, decided, says what the grant allows and until when.
    card_now = wait_until(
        lambda: given["grant_id"] in str(fake.messages[card_at]) and str(fake.messages[card_at]),
        message="the decided card naming the grant",
    )
    assert "also allowed the same calls for this thread until" in card_now
    assert "standing grant" in told(fake, ALICE)[0]
    cards = [p for p in fake.calls_to("chat.postMessage") if has_buttons(p)]
    assert len(cards) == 1  # the covered call posted no card
