"""Policies on Slack, through signed requests to the real endpoint and the fake Web API: the person
who asked cannot approve (an ephemeral says why, nothing decided), prod needs two distinct people
("1 of 2" on the card, the same person's second click refused), the rule is on the card, the tool
runs once, and the decision records the Slack proof and the directory's person."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from channels.slack.blocks import APPROVE_ACTION_ID
from tests.support.fake_model import FakeModelServer, text, tool_call
from tests.support.fake_slack import FakeSlack
from tests.support.people import POLICY_AGENT, directory
from tests.support.signoff_process import wait_until
from tests.support.slack_requests import app_mention
from tests.support.slack_signoff import ALICE, BOB, MakeSlackBot, button_value, wait_for_card

CAROL = "U0CAROL"


def told(fake: FakeSlack, user: str, count: int = 1) -> list[str]:
    return list(
        wait_until(
            lambda: (
                len(t := [p["text"] for p in fake.calls_to("chat.postEphemeral") if p["user"] == user]) >= count and t
            ),
            message=f"{count} ephemeral(s) to {user}",
        )
    )


def card_text(fake: FakeSlack, card_at: tuple[str, str]) -> str:
    return str(fake.messages[card_at].get("blocks"))


def test_no_self_approval_and_two_of_m_on_slack(
    make_slack_bot: MakeSlackBot, fake: FakeSlack, model: FakeModelServer, tmp_path: Path
) -> None:
    directory(f"sqlite:///{tmp_path / 'signoff.db'}")
    bot = make_slack_bot(**POLICY_AGENT)
    model.script(tool_call("deploy", {"service": "web", "env": "prod", "reason": "release"}), text("Deployed."))
    assert bot.event(app_mention("<@UBOT> deploy web to prod", user=BOB)).status_code == 200
    [(card_at, card)] = wait_for_card(fake)
    request_id = button_value(card)
    assert "prod needs two SREs" in card_text(fake, card_at) and "0 of 2" in card_text(fake, card_at)

    bot.click(APPROVE_ACTION_ID, request_id, user=BOB, card=card_at)
    [refusal] = told(fake, BOB)
    assert "may not approve their own request" in refusal
    assert bot.request(request_id)["progress"] == "0 of 2"

    bot.click(APPROVE_ACTION_ID, request_id, user=ALICE, card=card_at)
    [progress] = told(fake, ALICE)
    assert "approval 1 of 2 recorded" in progress
    wait_until(lambda: "1 of 2" in card_text(fake, card_at), message="the card shows 1 of 2")
    assert any(b.get("type") == "actions" for b in fake.messages[card_at]["blocks"])  # still decidable

    bot.click(APPROVE_ACTION_ID, request_id, user=ALICE, card=card_at)
    assert "already approved" in told(fake, ALICE, 2)[1]
    assert bot.request(request_id)["status"] == "pending"

    bot.click(APPROVE_ACTION_ID, request_id, user=CAROL, card=card_at)
    thread = bot.wait_status(bot.request(request_id)["thread_id"], "done")
    events: list[dict[str, Any]] = thread["events"]
    assert [e["type"] for e in events].count("tool_result") == 1
    [decided] = [e for e in events if e["type"] == "approval_decided"]
    identity = decided["identity"]
    assert (identity["method"], identity["channel"], identity["person"]) == ("slack", "slack", "carol")
    assert identity["detail"] == {"user": CAROL, "team": "T1"}
    assert [a["person"] for a in decided["approvals"]] == ["alice", "carol"]
    wait_until(
        lambda: not any(b.get("type") == "actions" for b in fake.messages[card_at]["blocks"]), message="decided card"
    )
